"""Chooses the cgroup driver: the only module that knows both v1 and v2 exist.

Layer: runtime (3). May import: errors, runtime.cgroups.

Pure cgroup v2 is recognised by ``<root>/cgroup.controllers`` (the unified hierarchy is
mounted at the root itself). Anything else, including the hybrid layout with cgroup2 at
``<root>/unified``, is driven as v1. The v1↔v2 value conversions live in ``base`` and are
re-exported here.
"""

from __future__ import annotations

import os

from hako.errors import Unsupported
from hako.runtime.cgroups.base import (  # noqa: F401  (re-exported conversions)
    CgroupManager,
    blkio_weight_to_io_weight,
    shares_to_weight,
)

DEFAULT_ROOT = "/sys/fs/cgroup"
DEFAULT_PARENT = "/hako"


def is_v2(root: str = DEFAULT_ROOT) -> bool:
    """True when ``root`` is a pure cgroup v2 (unified) mount."""
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def default_path(container_id: str) -> str:
    """The cgroups path hako uses when the spec gives none: "/hako/<id>"."""
    return f"{DEFAULT_PARENT}/{container_id}"


def new_manager(cgroups_path: str, container_id: str, root: str = DEFAULT_ROOT) -> CgroupManager:
    """Build the manager for this host's cgroup layout.

    Args:
        cgroups_path: cgroupfs-style path relative to each hierarchy root ("/hako/<id>");
            empty means ``default_path(container_id)``.
        container_id: the container id (used only for the default path).
        root: where the cgroup filesystems are mounted (injectable for tests).

    Returns:
        A ``CgroupV2Manager`` on pure v2 hosts, else a ``CgroupV1Manager``; a
        ``NoCgroupManager`` in a user namespace without a delegated cgroup. Nothing on disk
        is touched until ``apply`` or ``set``.

    Raises:
        Unsupported: a systemd-style path ("slice:prefix:name") was given.
        InvalidArgument: the path is invalid (from the manager's constructor).
    """
    path = cgroups_path or default_path(container_id)
    if ":" in path:
        raise Unsupported(f"systemd cgroup paths are not supported: {path!r}")
    from hako.runtime.cgroups import none

    if none.unavailable(root, path):
        return none.NoCgroupManager(path)
    if is_v2(root):
        from hako.runtime.cgroups.v2 import CgroupV2Manager

        return CgroupV2Manager(path, root=root)
    from hako.runtime.cgroups.v1 import CgroupV1Manager

    return CgroupV1Manager(path, root=root)
