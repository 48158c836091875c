"""HTTP status and ``{"message": …}`` body → hako error kinds.

The inverse of ``hako.daemon.api.errors``. Classification is by status code only,
never by message text (the one exception, 404 for containers vs images, is decided by the
caller, who knows which resource it asked for).
"""

from __future__ import annotations

import json

from hako import errors

_BY_STATUS: dict[int, type[errors.EngineError]] = {
    304: errors.NotModified,
    400: errors.InvalidArgument,
    401: errors.Unauthorized,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    412: errors.FailedPrecondition,
    501: errors.Unsupported,
    503: errors.Unavailable,
}


class DaemonError(Exception):
    """Mixin marking an error that came from the daemon (printed as "Error response…")."""

    status: int = 0


_CLASSES: dict[type, type] = {}


def _daemon_class(kind: type[errors.EngineError]) -> type:
    cls = _CLASSES.get(kind)
    if cls is None:
        cls = type(f"Daemon{kind.__name__}", (kind, DaemonError), {})
        _CLASSES[kind] = cls
    return cls


def message_of(body: bytes) -> str:
    """Extract the daemon's message from an error body (JSON or plain text)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if isinstance(doc, dict) and "message" in doc:
        return str(doc["message"])
    return text


def from_response(status: int, body: bytes, kind: type[errors.EngineError] | None = None):
    """Build the error kind for an HTTP error response.

    Args:
        status: the HTTP status (>= 300).
        body: the response body.
        kind: overrides the kind for a 404 (e.g. ``ContainerNotFound``).

    Returns:
        An exception instance that subclasses both the kind and :class:`DaemonError`.
    """
    base = _BY_STATUS.get(status, errors.Internal)
    if kind is not None and status == 404:
        base = kind
    err = _daemon_class(base)(message_of(body))
    err.status = status
    return err


def is_daemon_error(exc: BaseException) -> bool:
    return isinstance(exc, DaemonError)
