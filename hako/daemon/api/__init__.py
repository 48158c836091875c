"""Docker Engine API server: HTTP/1.1, routing, error mapping, wire JSON."""
