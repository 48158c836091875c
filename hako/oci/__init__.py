"""Pure data and parsing for OCI and Docker image formats; no I/O. Layer 2.

May import: errors, support.
"""
