"""No cgroups: a runtime in a user namespace whose host did not delegate a cgroup to it.

Layer: runtime (3). May import: errors, runtime.cgroups.base.

runc's rootless mode: the container runs in the caller's cgroup. Nothing can be limited, so
a spec asking for a limit is refused (never run without it), and so are pause and stats.
"""

from __future__ import annotations

from typing import Any

from hako.errors import Unsupported

REASON = ("cgroups are not available: rootless, and no cgroup is delegated to this user "
          "(needs a writable cgroup v2 subtree)")

# resources entries that are only containers of defaults, not limits
_NOT_LIMITS = ("devices",)


def _limits(resources: dict[str, Any]) -> list[str]:
    """The names of the resources sections that set something."""
    out = []
    for key, value in (resources or {}).items():
        if key in _NOT_LIMITS or value in (None, {}, [], 0, ""):
            continue
        if isinstance(value, dict) and not any(v not in (None, 0, "", [], {}) for v in value.values()):
            continue
        out.append(key)
    return out


class NoCgroupManager:
    """The CgroupManager of a container that has no cgroup of its own."""

    def __init__(self, path: str) -> None:
        self._path = path
        self.warnings: list[str] = []

    @property
    def path(self) -> str:
        return self._path

    def apply(self, pid: int) -> None:
        pass

    def set(self, resources: dict[str, Any]) -> None:
        limits = _limits(resources)
        if limits:
            raise Unsupported(f"{REASON}: cannot apply linux.resources {', '.join(sorted(limits))}")

    def freeze(self, timeout: float = 0) -> None:
        raise Unsupported(f"{REASON}: cannot freeze")

    def thaw(self, timeout: float = 0) -> None:
        raise Unsupported(f"{REASON}: cannot thaw")

    def pids(self) -> list[int]:
        return []

    def destroy(self, timeout: float = 0) -> None:
        pass

    def oom_kill_count(self) -> int:
        return 0

    def stats(self) -> dict[str, Any]:
        raise Unsupported(f"{REASON}: no usage counters")


def unavailable(root: str, path: str) -> bool:
    """True in a user namespace (not root of the host's) where the container's cgroup cannot
    be made: on cgroup v2, the nearest existing ancestor of ``path`` is not writable (no
    subtree was delegated there); on v1, the hierarchies are not writable (v1 has no
    delegation)."""
    import os

    from hako.linux.idmaps import privileged

    if privileged():
        return False
    if not os.path.exists(os.path.join(root, "cgroup.controllers")):
        return not os.access(os.path.join(root, "pids"), os.W_OK)
    top = os.path.normpath(root)
    probe = os.path.normpath(os.path.join(top, path.strip("/")))
    while probe != top and not os.path.isdir(probe):
        probe = os.path.dirname(probe)
    return probe == top or not os.access(probe, os.W_OK)
