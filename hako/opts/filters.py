"""Docker filters: ``-f key=value`` flags ↔ the ``filters`` JSON ↔ a mapping of sets.

The wire form is ``{"key": ["v1", "v2"]}``; old clients send ``{"key": {"v1": true}}``.
Both decode to ``{"key": {"v1", "v2"}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from hako.errors import InvalidArgument

Filters = dict[str, set[str]]


def parse_flags(values: Iterable[str]) -> Filters:
    """Parse ``-f key=value`` flag values.

    Raises:
        InvalidArgument: a value has no ``=`` (docker: ``bad format of filter (expected name=value)``).
    """
    out: Filters = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep:
            raise InvalidArgument("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), set()).add(val.strip())
    return out


def to_wire(filters: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Mapping of sets → the JSON-ready wire form (sorted lists)."""
    return {k: sorted(v) for k, v in filters.items()}


def parse_json(text: str) -> Filters:
    """Decode the ``filters`` query parameter (list or map form).

    Raises:
        InvalidArgument: not a JSON object of the expected shapes.
    """
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filter: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid filter: expected a JSON object")
    out: Filters = {}
    for key, val in doc.items():
        if isinstance(val, dict):
            out[key] = {k for k, on in val.items() if on}
        elif isinstance(val, list):
            out[key] = {str(v) for v in val}
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return out


def validate_keys(filters: Filters, allowed: Iterable[str]) -> None:
    """Raises InvalidArgument (docker's ``invalid filter 'x'``) for an unknown key."""
    allowed = set(allowed)
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")


def match_labels(wanted: Iterable[str], labels: Mapping[str, str] | None) -> bool:
    """True when every ``key`` or ``key=value`` in ``wanted`` matches ``labels``."""
    labels = labels or {}
    for item in wanted:
        key, sep, val = item.partition("=")
        if key not in labels:
            return False
        if sep and labels[key] != val:
            return False
    return True


def match_any(wanted: set[str] | None, value: str) -> bool:
    """True when the filter is absent or ``value`` is one of the wanted values."""
    return not wanted or value in wanted
