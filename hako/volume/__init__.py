"""Named volumes (layer 3). May import: errors, support, opts, linux."""
