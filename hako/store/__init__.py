"""Content-addressed blobs, snapshots, metadata (layer 3)."""
