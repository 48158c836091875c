"""Error kinds shared by every layer.

Every error hako raises subclasses one of these kinds. The HTTP status for a kind is chosen
in exactly one place (``hako.daemon.api.errors``) and the CLI exit code in one place
(``hako.cli.main``). Messages are Docker's texts where Docker has one.

May import: nothing.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of all hako errors. ``str(err)`` is the user-facing message."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(EngineError):
    """The named object does not exist (HTTP 404)."""


class AlreadyExists(EngineError):
    """An object with this name or id already exists (HTTP 409)."""


class Conflict(EngineError):
    """The request conflicts with the object's current state (HTTP 409)."""


class InvalidArgument(EngineError):
    """The request is malformed or names an invalid value (HTTP 400)."""


class FailedPrecondition(EngineError):
    """The system is not in a state where the operation can run (HTTP 412/409)."""


class NotModified(EngineError):
    """The operation was a no-op: already in the requested state (HTTP 304)."""


class PermissionDenied(EngineError):
    """The caller may not do this (HTTP 403)."""


class Unauthorized(EngineError):
    """Credentials are missing or wrong (HTTP 401)."""


class Unavailable(EngineError):
    """A dependency (daemon, registry, runtime) cannot be reached (HTTP 503)."""


class Unsupported(EngineError):
    """The feature is not implemented or not supported here (HTTP 501)."""


class Internal(EngineError):
    """An unexpected failure inside hako (HTTP 500)."""


# Specific errors used across layers.


class ImageNotFound(NotFound):
    """No image matches the reference or id."""


class ContainerNotFound(NotFound):
    """No container matches the name or id prefix."""


class AmbiguousPrefix(InvalidArgument):
    """An id prefix matches more than one object."""


class RuntimeFailed(Internal):
    """The OCI runtime reported an error. ``exit_code`` is what Docker would record."""

    def __init__(self, message: str, exit_code: int = 128) -> None:
        super().__init__(message)
        self.exit_code = exit_code
