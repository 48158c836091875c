"""Descriptor: the OCI pointer to content (media type, digest, size, annotations, platform).

Pure data. Layer 2. May import: errors, oci.digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hako.errors import InvalidArgument
from hako.oci.digest import Digest


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    platform: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    urls: tuple[str, ...] = field(default=(), compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as an OCI JSON object."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> "Descriptor":
        """Parse an OCI descriptor object.

        Raises:
            InvalidArgument: the object is not a valid descriptor.
        """
        if not isinstance(obj, dict):
            raise InvalidArgument("invalid descriptor: not an object")
        try:
            size = int(obj.get("size", -1))
            digest = Digest.parse(obj["digest"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid descriptor: {exc}") from exc
        return cls(
            media_type=str(obj.get("mediaType", "")),
            digest=digest,
            size=size,
            annotations=dict(obj.get("annotations") or {}),
            platform=obj.get("platform"),
            urls=tuple(obj.get("urls") or ()),
        )
