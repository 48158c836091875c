"""The Image value returned by ImageService, and image lookup/filter helpers.

Layer 4. May import: errors, oci.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from hako.errors import InvalidArgument
from hako.oci import reference


@dataclass(frozen=True)
class Image:
    """An image as the daemon sees it. ``config`` is the image's ``config`` object."""

    id: str  # "sha256:<hex>" of the config blob
    repo_tags: tuple[str, ...]  # familiar, e.g. "busybox:latest"
    repo_digests: tuple[str, ...]  # familiar, e.g. "busybox@sha256:…"
    parent: str
    created: str  # RFC 3339
    config: dict[str, Any]
    size: int
    virtual_size: int
    layers: tuple[str, ...]  # diff ids, bottom first
    comment: str = ""
    author: str = ""
    docker_version: str = ""
    os: str = "linux"
    architecture: str = ""
    variant: str = ""
    container: str = ""
    container_config: dict[str, Any] = field(default_factory=dict)
    history: tuple[dict[str, Any], ...] = ()
    last_tag_time: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})


def created_unix(created: str) -> int:
    """Seconds since the epoch of an RFC 3339 timestamp (0 when unparsable)."""
    import datetime as dt

    if not created:
        return 0
    text = created.replace("Z", "+00:00")
    if "." in text:
        head, _, tail = text.partition(".")
        frac = "".join(ch for ch in tail if ch.isdigit())
        tz = tail[len(frac):]
        text = f"{head}.{frac[:6]}{tz}"
    try:
        return int(dt.datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0


FILTERS = ("dangling", "label", "before", "since", "reference")


def check_filters(filters: dict[str, list[str]]) -> None:
    """Raises InvalidArgument for an unknown filter key (Docker's text)."""
    for key in filters:
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for value in filters.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")


def match_labels(img: Image, wanted: list[str]) -> bool:
    labels = img.labels
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def match_reference(img: Image, patterns: list[str]) -> bool:
    """Docker's ``reference`` filter: glob against familiar names with and without tag."""
    return any(_ref_matches(tag, patterns) for tag in img.repo_tags + img.repo_digests)


def _ref_matches(tag: str, patterns: list[str]) -> bool:
    name = tag.split("@", 1)[0].rsplit(":", 1)[0] if ":" in tag.split("/")[-1] else tag
    try:
        full = reference.parse(tag)
    except InvalidArgument:
        return False
    candidates = {tag, full.familiar_name, name}
    return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns)


def only_matching_refs(img: Image, patterns: list[str]) -> Image:
    """``img`` showing only the tags and digests the ``reference`` filter matched, as Docker
    lists them (``docker images busybox`` does not show the image's other names)."""
    from dataclasses import replace

    return replace(img, repo_tags=tuple(t for t in img.repo_tags if _ref_matches(t, patterns)),
                   repo_digests=tuple(d for d in img.repo_digests if _ref_matches(d, patterns)))
