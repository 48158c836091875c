"""Merging compose files (``-f a.yaml -f b.yaml``) and ``extends``, as the spec says.

Mappings merge key by key; ``command``, ``entrypoint`` and ``healthcheck.test`` are
replaced; ``environment``, ``labels``, ``sysctls``, ``build.args``, ``extra_hosts`` and the
like merge as mappings whichever syntax each side used; ``volumes`` merge by target,
``secrets``/``configs`` by source, ``ports`` keep each distinct entry, other sequences
append without duplicates.

May import: nothing internal.
"""

from __future__ import annotations

import copy
from typing import Any

_REPLACE = {"command", "entrypoint", "test", "cpuset", "image"}
_AS_MAPPING = {"environment", "labels", "sysctls", "args", "annotations", "extra_hosts",
               "ulimits", "networks", "depends_on", "driver_opts", "options"}
_BY_KEY = {"volumes": "target", "secrets": "source", "configs": "source", "devices": "source"}


def list_or_dict_to_dict(value: Any, sep: str = "=") -> dict[str, Any]:
    """``["A=1", "B"]`` → ``{"A": "1", "B": None}``; a mapping is returned as is."""
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in value or []:
        key, found, val = str(item).partition(sep)
        out[key] = val if found else None
    return out


def _as_mapping(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if key in ("networks", "depends_on"):
        return {n: None for n in value or []}
    if key == "extra_hosts":
        return {k.strip(): v for k, v in (list_or_dict_to_dict(
            [i.replace(":", "=", 1) if "=" not in i else i for i in value or []])).items()}
    return list_or_dict_to_dict(value)


def _entry_key(kind: str, item: Any) -> Any:
    if isinstance(item, dict):
        return item.get(_BY_KEY[kind])
    text = str(item)
    if kind == "volumes":
        parts = text.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return text


def merge_values(key: str, base: Any, over: Any) -> Any:
    """Merge one key's override value onto its base value."""
    if over is None and key not in _AS_MAPPING:
        return copy.deepcopy(over)
    if key in _REPLACE or base is None:
        return copy.deepcopy(over)
    if key in _AS_MAPPING and isinstance(base, (dict, list)) and isinstance(over, (dict, list)):
        merged = _as_mapping(key, base)
        for k, v in _as_mapping(key, over).items():
            old = merged.get(k)
            merged[k] = merge_mapping(old, v) if isinstance(old, dict) and isinstance(v, dict) \
                else copy.deepcopy(v)
        return merged
    if isinstance(base, dict) and isinstance(over, dict):
        return merge_mapping(base, over)
    if key in _BY_KEY and isinstance(base, list) and isinstance(over, list):
        merged_items = {_entry_key(key, i): i for i in base}
        for item in over:
            merged_items[_entry_key(key, item)] = copy.deepcopy(item)
        return list(merged_items.values())
    if isinstance(base, list) and isinstance(over, list):
        out = list(base)
        out += [copy.deepcopy(i) for i in over if i not in out]
        return out
    return copy.deepcopy(over)


def merge_mapping(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A new mapping: ``over`` merged onto ``base`` key by key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = merge_values(key, out[key], value) if key in out else copy.deepcopy(value)
    return out


def merge_documents(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge two whole files: services, networks, volumes, secrets, configs by name."""
    out = dict(base)
    for key, value in over.items():
        if key in ("services", "networks", "volumes", "secrets", "configs", "models") \
                and isinstance(out.get(key), dict) and isinstance(value, dict):
            section = dict(out[key])
            for name, item in value.items():
                old = section.get(name)
                section[name] = merge_mapping(old, item) if isinstance(old, dict) and \
                    isinstance(item, dict) else copy.deepcopy(item)
            out[key] = section
        elif key == "include":
            out[key] = list(out.get(key) or []) + list(value or [])
        else:
            out[key] = copy.deepcopy(value)
    return out
