"""Container networking: IPAM, the default bridge, per-container sandboxes, etc files.

Layer: network (3). May import: errors, support, oci, opts, linux.
"""
