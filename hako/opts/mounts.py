"""Mount syntax: ``-v src:dst[:opts]``, ``--mount type=…,source=…,target=…``, ``--tmpfs``."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Any

from hako.errors import InvalidArgument

_VOLUME_OPTS = {"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated",
                "shared", "rshared", "slave", "rslave", "private", "rprivate"}


@dataclass(frozen=True)
class MountSpec:
    """A requested mount. ``type`` is bind, volume or tmpfs; source "" = anonymous volume."""

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    propagation: str = ""
    options: tuple[str, ...] = ()
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def parse_volume(spec: str) -> MountSpec:
    """Parse one ``-v`` value.

    Raises:
        InvalidArgument: docker's ``invalid volume specification: '…'``.
    """
    parts = spec.split(":")
    if not spec or len(parts) > 3 or any(p == "" for p in parts):
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    opts: list[str] = []
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2 and not parts[1].startswith("/") and \
            all(o in _VOLUME_OPTS for o in parts[1].split(",")):
        source, target, opts = "", parts[0], parts[1].split(",")  # "dst:ro"
    else:
        source, target = parts[0], parts[1]
        if len(parts) == 3:
            opts = parts[2].split(",")
    if not target.startswith("/"):
        kind = "bind" if source.startswith(("/", ".")) else "volume"
        raise InvalidArgument(
            f"invalid volume specification: '{spec}': invalid mount config for type "
            f'"{kind}": invalid mount path: \'{target}\' mount path must be absolute'
        )
    for o in opts:
        if o not in _VOLUME_OPTS:
            raise InvalidArgument(f"invalid mode: {o}")
    kind = "bind" if source.startswith("/") or source.startswith(".") else "volume"
    prop = next((o for o in opts if "shared" in o or "slave" in o or "private" in o), "")
    return MountSpec(kind, target, source, "ro" in opts, prop, tuple(opts))


def parse_mount(spec: str) -> MountSpec:
    """Parse one ``--mount`` value (CSV of key=value).

    Raises:
        InvalidArgument: docker's messages for unknown keys or a missing target.
    """
    fields = next(csv.reader([spec])) if spec else []
    kind, source, target, ro, prop = "volume", "", "", False, ""
    size = mode = None
    extra: dict[str, Any] = {}
    for item in fields:
        key, sep, val = item.partition("=")
        key = key.strip().lower()
        if not sep and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise InvalidArgument(f"invalid field '{item}' must be a key=value pair")
        if key == "type":
            kind = val
        elif key in ("source", "src"):
            source = val
        elif key in ("target", "destination", "dst"):
            target = val
        elif key in ("readonly", "ro"):
            ro = (val or "true").lower() in ("1", "true")
        elif key == "bind-propagation":
            prop = val
        elif key == "tmpfs-size":
            from hako.support.units import parse_ram_size

            size = parse_ram_size(val)
        elif key == "tmpfs-mode":
            mode = int(val, 8)
        elif key in ("volume-nocopy", "bind-nonrecursive"):
            extra[key] = (val or "true").lower()
        elif key in ("volume-driver", "consistency"):
            extra[key] = val
        elif key in ("volume-label", "volume-opt"):
            k, _, v = val.partition("=")
            extra.setdefault(key, {})[k] = v  # type: ignore[index]
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{item}'")
    if kind not in ("bind", "volume", "tmpfs", "npipe"):
        raise InvalidArgument(f"invalid mount type: {kind}")
    if not target:
        raise InvalidArgument("target is required")
    return MountSpec(kind, target, source, ro, prop, (), size, mode, extra)


def parse_tmpfs(spec: str) -> tuple[str, str]:
    """``--tmpfs /run:rw,size=64m`` → (target, options).

    Raises:
        InvalidArgument: the target is not absolute.
    """
    target, _, opts = spec.partition(":")
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount path: '{target}' mount path must be absolute")
    return target, opts
