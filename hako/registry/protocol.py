"""What the registry client and server share: distribution error codes ↔ error kinds, the
error body, ``Range``/``Content-Range`` values, ``WWW-Authenticate`` challenges, scopes.

Pure logic, no I/O. Layer 2 (beside ``oci``). May import: errors, support.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field

from hako import errors

# code → (HTTP status, message, error kind), as distribution's registry/api/errcode.
CODES: dict[str, tuple[int, str, type[errors.EngineError]]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry", errors.NotFound),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid", errors.InvalidArgument),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry", errors.NotFound),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content", errors.InvalidArgument),
    "MANIFEST_BLOB_UNKNOWN": (400, "blob unknown to registry", errors.InvalidArgument),
    "MANIFEST_INVALID": (400, "manifest invalid", errors.InvalidArgument),
    "MANIFEST_UNKNOWN": (404, "manifest unknown", errors.NotFound),
    "NAME_INVALID": (400, "invalid repository name", errors.InvalidArgument),
    "NAME_UNKNOWN": (404, "repository name not known to registry", errors.NotFound),
    "SIZE_INVALID": (400, "provided length did not match content length", errors.InvalidArgument),
    "TAG_INVALID": (400, "manifest tag did not match URI", errors.InvalidArgument),
    "UNAUTHORIZED": (401, "authentication required", errors.Unauthorized),
    "DENIED": (403, "requested access to the resource is denied", errors.PermissionDenied),
    "UNSUPPORTED": (405, "The operation is unsupported.", errors.Unsupported),
    "RANGE_INVALID": (416, "invalid content range", errors.InvalidArgument),
    "TOOMANYREQUESTS": (429, "too many requests", errors.Unavailable),
    "UNKNOWN": (500, "unknown error", errors.Internal),
    "UNAVAILABLE": (503, "service unavailable", errors.Unavailable),
}


class RegistryError(errors.EngineError):
    """A distribution error answer; ``kind`` is the matching ``hako.errors`` class."""

    def __init__(self, code: str, message: str = "", detail: object = None, status: int = 0) -> None:
        default_status, default_message, _ = CODES.get(code, CODES["UNKNOWN"])
        self.code = code
        self.status = status or default_status
        self.detail = detail
        super().__init__(message or default_message)

    def body(self) -> bytes:
        item: dict[str, object] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            item["detail"] = self.detail
        return json.dumps({"errors": [item]}).encode()

    def as_kind(self, prefix: str = "") -> errors.EngineError:
        """The same failure as an engine error kind (``prefix: code text: message``)."""
        kind = CODES.get(self.code, CODES["UNKNOWN"])[2]
        text = f"{self.code.lower().replace('_', ' ')}: {self.message}"
        return kind(f"{prefix}: {text}" if prefix else text)


def parse_errors(status: int, body: bytes) -> RegistryError:
    """The first error of a distribution error body (or one made from the status)."""
    try:
        doc = json.loads(body or b"{}")
        item = (doc.get("errors") or [{}])[0]
        code = str(item.get("code") or "")
        if code:
            return RegistryError(code, str(item.get("message") or ""), item.get("detail"), status)
    except (ValueError, AttributeError, IndexError, TypeError):
        pass
    by_status = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN", 405: "UNSUPPORTED",
                 416: "RANGE_INVALID", 429: "TOOMANYREQUESTS", 503: "UNAVAILABLE"}
    code = by_status.get(status, "UNKNOWN")
    # a bodiless answer (HEAD) of a known status reads as that code's own text, as docker's does
    return RegistryError(code, "" if code != "UNKNOWN" else f"status {status}", None, status)


# -- ranges ----------------------------------------------------------------------------------
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_CONTENT_RANGE_RE = re.compile(r"^(?:bytes )?(\d+)-(\d+)(?:/(\d+|\*))?$")


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """A request ``Range: bytes=a-[b]`` → (start, end inclusive), None if unsatisfiable."""
    m = _RANGE_RE.match(value.strip())
    if not m:
        return None
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    end = min(end, size - 1)
    if start > end:
        return None
    return start, end


def parse_content_range(value: str) -> tuple[int, int] | None:
    """An upload ``Content-Range: a-b`` (inclusive); None when malformed."""
    m = _CONTENT_RANGE_RE.match(value.strip())
    if not m:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    return (start, end) if end >= start else None


# -- auth ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str] = field(default_factory=dict)


_PARAM_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """``WWW-Authenticate`` value(s) → challenges (scheme lowercased)."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z]+)\s*", rest)
        if not m:
            break
        scheme = m.group(1).lower()
        rest = rest[m.end():]
        params: dict[str, str] = {}
        while True:
            p = _PARAM_RE.match(rest)
            if not p or (p.group(2) is None and p.group(3) is None):
                break
            value = p.group(2) if p.group(2) is not None else p.group(3)
            params[p.group(1).lower()] = value.replace('\\"', '"')
            rest = rest[p.end():]
        out.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    return out


def bearer_challenge(realm: str, service: str, scope: str = "", error: str = "") -> str:
    out = f'Bearer realm="{realm}",service="{service}"'
    if scope:
        out += f',scope="{scope}"'
    if error:
        out += f',error="{error}"'
    return out


def repository_scope(name: str, actions: tuple[str, ...]) -> str:
    return f"repository:{name}:{','.join(actions)}"


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]


def parse_scope(text: str) -> Scope | None:
    """``repository:name:pull,push`` → Scope (the name may hold colons? no: last colon splits)."""
    kind, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return Scope(kind, name, tuple(a for a in actions.split(",") if a))


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def parse_basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
