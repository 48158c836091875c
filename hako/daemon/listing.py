"""GET /containers/json selection: all, limit, before/since, and Docker's filters."""

from __future__ import annotations

import re
from typing import Any

from hako.daemon import health
from hako.daemon.state import Container, Status
from hako.errors import InvalidArgument

_KEYS = {"id", "name", "label", "status", "exited", "ancestor", "before", "since", "health",
         "volume", "network", "publish", "expose", "isolation", "is-task"}
_STATUSES = {s.value for s in Status}


def labels_match(c: Container, wanted: list[str]) -> bool:
    """Docker's ``label`` filter (``key`` or ``key=value``, all must hold) on a container."""
    return _label_match(c.config.get("Labels") or {}, wanted)


def _label_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def select(containers: list[Container], filters: dict[str, list[str]], all_: bool, limit: int,
           resolve: Any, image_matches: Any) -> list[Container]:
    """Apply Docker's container list semantics.

    Args:
        containers: newest first.
        resolve: ref → Container (for before/since).
        image_matches: (container, ancestor ref) → bool.

    Raises:
        InvalidArgument: an unknown filter key or status value.
    """
    for key in filters:
        if key not in _KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for value in filters.get("status", []):
        if value not in _STATUSES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
    for value in filters.get("health", []):
        if value not in health.STATUSES:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    before = [resolve(v).created for v in filters.get("before", [])]
    since = [resolve(v).created for v in filters.get("since", [])]
    show_all = bool(all_ or (limit and limit > 0) or before or since
                    or filters.get("status") or filters.get("exited"))
    out: list[Container] = []
    for c in containers:
        if not show_all and not c.state.running:
            continue
        if not _keep(c, filters, image_matches):
            continue
        if before and not all(c.created < b for b in before):
            continue
        if since and not all(c.created > s for s in since):
            continue
        out.append(c)
    if limit and limit > 0:
        out = out[:limit]
    return out


def _keep(c: Container, f: dict[str, list[str]], image_matches: Any) -> bool:
    if f.get("id") and not any(c.id.startswith(v) for v in f["id"]):
        return False
    if f.get("name") and not any(re.search(v.lstrip("/"), c.name) for v in f["name"]):
        return False
    if f.get("label") and not _label_match(c.config.get("Labels") or {}, f["label"]):
        return False
    if f.get("status") and c.state.status.value not in f["status"]:
        return False
    if f.get("exited"):
        if c.state.status != Status.EXITED:
            return False
        try:
            codes = {int(v) for v in f["exited"]}
        except ValueError:
            raise InvalidArgument(f"invalid filter 'exited={f['exited'][0]}'") from None
        if c.state.exit_code not in codes:
            return False
    if f.get("ancestor") and not any(image_matches(c, v) for v in f["ancestor"]):
        return False
    if f.get("health"):
        status = c.state.health.status if c.state.health is not None else health.NONE
        if status not in f["health"]:
            return False
    return True
