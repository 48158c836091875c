"""Low-level OCI runtime (layer 3). May import: errors, support, oci, linux."""
