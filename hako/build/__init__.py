"""Dockerfile builder (layer 5). May import: errors, support, oci, opts, store, image."""
