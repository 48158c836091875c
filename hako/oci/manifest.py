"""Image manifests and indexes: OCI manifest/index and Docker v2s2 manifest/list.

Parse, serialize and normalize (Docker ↔ OCI media types). Pure logic. Layer 2.
May import: errors, oci.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hako.errors import InvalidArgument
from hako.oci import mediatypes as mt
from hako.oci.descriptor import Descriptor

_TO_OCI = {
    mt.DOCKER_MANIFEST: mt.OCI_MANIFEST,
    mt.DOCKER_MANIFEST_LIST: mt.OCI_INDEX,
    mt.DOCKER_CONFIG: mt.OCI_CONFIG,
    mt.DOCKER_LAYER: mt.OCI_LAYER,
    mt.DOCKER_LAYER_GZIP: mt.OCI_LAYER_GZIP,
    mt.DOCKER_LAYER_FOREIGN: mt.OCI_LAYER_NONDIST_GZIP,
}


@dataclass(frozen=True)
class Manifest:
    """A single-platform image manifest (OCI or Docker v2s2)."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def serialize(self) -> bytes:
        """Canonical bytes (compact JSON) of the manifest."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


@dataclass(frozen=True)
class Index:
    """A multi-platform index (OCI index or Docker manifest list)."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json() for m in self.manifests],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def serialize(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def parse(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse manifest or index bytes; the media type is taken from the document if absent.

    Raises:
        InvalidArgument: not JSON, wrong schema version, or an unknown shape.
    """
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"invalid manifest: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidArgument("invalid manifest: not an object")
    if obj.get("schemaVersion") != 2:
        raise InvalidArgument(f"unsupported manifest schema version {obj.get('schemaVersion')}")
    kind = obj.get("mediaType") or media_type or ""
    annotations = dict(obj.get("annotations") or {})
    if "manifests" in obj or mt.is_index(kind):
        return Index(
            manifests=tuple(Descriptor.from_json(d) for d in obj.get("manifests") or []),
            media_type=kind or mt.OCI_INDEX,
            annotations=annotations,
        )
    if "config" not in obj:
        raise InvalidArgument("invalid manifest: no config descriptor")
    return Manifest(
        config=Descriptor.from_json(obj["config"]),
        layers=tuple(Descriptor.from_json(d) for d in obj.get("layers") or []),
        media_type=kind or mt.OCI_MANIFEST,
        annotations=annotations,
    )


def to_oci_media_type(media_type: str) -> str:
    """Map a Docker media type to its OCI equivalent (others unchanged)."""
    return _TO_OCI.get(media_type, media_type)


def normalize(doc: Manifest | Index) -> Manifest | Index:
    """Return the document with OCI media types everywhere."""
    if isinstance(doc, Index):
        return Index(
            manifests=tuple(_retype(d) for d in doc.manifests),
            media_type=mt.OCI_INDEX,
            annotations=doc.annotations,
        )
    return Manifest(
        config=_retype(doc.config),
        layers=tuple(_retype(d) for d in doc.layers),
        media_type=mt.OCI_MANIFEST,
        annotations=doc.annotations,
    )


def _retype(desc: Descriptor) -> Descriptor:
    return Descriptor(
        media_type=to_oci_media_type(desc.media_type),
        digest=desc.digest,
        size=desc.size,
        annotations=desc.annotations,
        platform=desc.platform,
        urls=desc.urls,
    )
