"""Docker Engine API client; works against hako and real Docker."""
