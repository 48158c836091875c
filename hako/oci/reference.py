"""Image references: parse and normalize like Docker (distribution/reference).

``busybox`` → ``docker.io/library/busybox:latest``; ``localhost:5000/x:y``; digests
(``name@sha256:…``); the familiar short form for display (``busybox:latest``).
Pure logic. Layer 2. May import: errors, oci.digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hako.errors import InvalidArgument
from hako.oci.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

_DOMAIN_COMP = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMP}(?:\.{_DOMAIN_COMP})*(?::[0-9]+)?"
_PATH_COMP = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMP}(?:/{_PATH_COMP})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")

INVALID = "invalid reference format"
INVALID_LOWER = "invalid reference format: repository name must be lowercase"


@dataclass(frozen=True)
class Reference:
    """A normalized reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str = ""
    digest: Digest | None = None

    @property
    def name(self) -> str:
        """The full repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short repository name Docker displays, e.g. ``busybox``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
            path = path[len(OFFICIAL_PREFIX):]
        return path

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """The familiar string, e.g. ``busybox:latest`` or ``busybox@sha256:…``."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def with_default_tag(self) -> "Reference":
        """Add ``:latest`` when the reference has neither tag nor digest."""
        if self.tag or self.digest is not None:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG, None)

    def with_tag(self, tag: str) -> "Reference":
        """The same repository with ``tag`` (digest dropped)."""
        return Reference(self.domain, self.path, validate_tag(tag), None)

    def with_digest(self, digest: Digest) -> "Reference":
        """The same repository with ``digest`` (tag dropped)."""
        return Reference(self.domain, self.path, "", digest)


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = first, name[i + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse(text: str) -> Reference:
    """Parse a user reference with Docker's normalization (no default tag added).

    Raises:
        InvalidArgument: ``invalid reference format`` (or its ``must be lowercase`` form).
    """
    if _HEX64_RE.match(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    if not text:
        raise InvalidArgument(INVALID)
    name_part = text.split("@", 1)[0]
    slash = name_part.rfind("/")
    colon = name_part.rfind(":")
    repo_part = name_part[:colon] if colon > slash else name_part
    domain, remainder = _split_domain(repo_part)
    if remainder.lower() != remainder:
        raise InvalidArgument(INVALID_LOWER)
    full = f"{domain}/{remainder}" + text[len(repo_part):]
    m = _REFERENCE_RE.match(full)
    if not m:
        raise InvalidArgument(INVALID)
    name, tag, dig = m.group(1), m.group(2) or "", m.group(3)
    if len(name) > NAME_TOTAL_MAX:
        raise InvalidArgument("repository name must not be more than 255 characters")
    digest = Digest.parse(dig) if dig else None
    return Reference(domain, name[len(domain) + 1:], tag, digest)


def parse_normalized(text: str) -> Reference:
    """Parse and add the default ``latest`` tag when neither tag nor digest is given."""
    return parse(text).with_default_tag()


def parse_repository(text: str) -> Reference:
    """Parse a repository name that must carry neither tag nor digest.

    Raises:
        InvalidArgument: invalid reference, or a tag/digest is present.
    """
    ref = parse(text)
    if ref.tag or ref.digest is not None:
        raise InvalidArgument(INVALID)
    return ref


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag.

    Raises:
        InvalidArgument: ``invalid tag format``.
    """
    if not _TAG_RE.match(tag):
        raise InvalidArgument("invalid tag format")
    return tag


def familiar(text: str) -> str:
    """Familiar display form of a full reference string."""
    return parse(text).familiar()
