"""docker-compatible CLI (``hako``). Client stack: may import errors, support, opts, client."""
