"""docker-compatible CLI; a pure client of the Engine API."""
