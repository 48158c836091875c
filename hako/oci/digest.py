"""Digest value type ("sha256:<hex>"), validation, streaming hasher and verifier.

Pure logic, no I/O. Layer 2. May import: errors.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from hako.errors import InvalidArgument

_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"^[a-f0-9]+$")


@dataclass(frozen=True, order=True)
class Digest:
    """A content digest. ``str(d)`` is ``"sha256:<hex>"``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        size = _ALGORITHMS.get(self.algorithm)
        if size is None:
            raise InvalidArgument(f"unsupported digest algorithm: {self.algorithm}")
        if len(self.hex) != size or not _HEX_RE.match(self.hex):
            raise InvalidArgument(f"invalid checksum digest format: {self.algorithm}:{self.hex}")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The first 12 hex characters (Docker's short id)."""
        return self.hex[:12]

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """Parse ``"<alg>:<hex>"``.

        Raises:
            InvalidArgument: the text is not a valid digest.
        """
        if not isinstance(text, str) or ":" not in text:
            raise InvalidArgument(f"invalid checksum digest format: {text}")
        alg, _, hexpart = text.partition(":")
        return cls(alg, hexpart)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> "Digest":
        """Digest of a byte string."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())


def is_digest(text: str) -> bool:
    """True when ``text`` parses as a digest."""
    try:
        Digest.parse(text)
    except InvalidArgument:
        return False
    return True


class Digester:
    """Streaming hasher: ``update`` chunks, then ``digest()``; also counts bytes."""

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._h.hexdigest())


class Verifier(Digester):
    """Streaming verifier for an expected digest (and optional size)."""

    def __init__(self, expected: Digest, size: int | None = None) -> None:
        super().__init__(expected.algorithm)
        self.expected = expected
        self.expected_size = size

    def verified(self) -> bool:
        """True when the content written so far matches the expectation."""
        if self.expected_size is not None and self.expected_size >= 0:
            if self.size != self.expected_size:
                return False
        return self.digest() == self.expected

    def check(self) -> None:
        """Raise when the content does not match.

        Raises:
            InvalidArgument: digest or size mismatch (Docker-like text).
        """
        if not self.verified():
            raise InvalidArgument(
                f"failed precondition: unexpected commit digest {self.digest()}, "
                f"expected {self.expected}"
            )
