"""THE mapping from error kinds to HTTP status codes and Docker's ``{"message": ...}`` body.

Handlers raise ``hako.errors`` kinds; nothing else in the daemon picks a status code.
"""

from __future__ import annotations

import logging

from hako import errors

log = logging.getLogger("hako.api")


class PageNotFound(errors.NotFound):
    """No route matches the request path."""


class BadVersion(errors.InvalidArgument):
    """The /vX.Y prefix names an API version we do not serve."""


_STATUS: list[tuple[type[BaseException], int]] = [
    (errors.NotModified, 304),
    (errors.NotFound, 404),
    (errors.AlreadyExists, 409),
    (errors.Conflict, 409),
    (errors.InvalidArgument, 400),
    (errors.FailedPrecondition, 409),
    (errors.PermissionDenied, 403),
    (errors.Unauthorized, 401),
    (errors.Unavailable, 503),
    (errors.Unsupported, 501),
    (errors.Internal, 500),
]


def status_for(exc: BaseException) -> int:
    """HTTP status for an exception: by kind, 500 for anything unclassified."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def to_response(exc: BaseException, method: str, path: str) -> tuple[int, dict | None]:
    """Status and JSON body for a failed request (no body for 304)."""
    status = status_for(exc)
    if status >= 500 and not isinstance(exc, errors.EngineError):
        log.exception("%s %s failed", method, path, exc_info=exc)
    elif status >= 500:
        log.error("%s %s: %s", method, path, exc)
    if status == 304:
        return status, None
    message = str(exc) or exc.__class__.__name__
    return status, {"message": message}
