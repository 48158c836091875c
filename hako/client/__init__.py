"""Docker Engine API client; works against hakod and real Docker.

Layer: client stack. May import: hako.errors, hako.support, hako.opts. Never the engine.

Entry point: :func:`hako.client.api.APIClient.from_host` (or build a
:class:`hako.client.transport.Transport` yourself and pass it in, e.g. a fake in tests).
"""
