"""Image service on top of store (layer 4)."""
