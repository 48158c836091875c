"""``hako registry serve``: an OCI distribution (Docker registry v2) server. Layer 4."""
