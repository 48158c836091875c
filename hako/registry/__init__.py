"""OCI distribution protocol, client and server."""
