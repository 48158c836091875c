"""Thin kernel wrappers (layer 2): mechanism only, no policy."""
