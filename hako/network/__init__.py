"""Container networking (layer 3). May import: errors, support, oci, opts, linux."""
