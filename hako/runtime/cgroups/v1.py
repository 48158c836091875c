"""cgroup v1 driver: one directory per mounted hierarchy, one Controller object per subsystem.

Layer: runtime (3). May import: errors, runtime.cgroups.base.

On-disk layout (root defaults to /sys/fs/cgroup)::

    <root>/<hierarchy>/<cgroups_path>/       hierarchy = "memory", "cpu,cpuacct", "pids", ...
    <root>/cpu -> cpu,cpuacct                 (symlinks of co-mounted hierarchies are folded)

Every subsystem mounted under ``root`` gets the container's directory, so the container's
processes are accounted everywhere (like runc). ``unified`` (the hybrid cgroup2 mount) is
ignored. New cpuset directories start with empty cpuset.cpus/mems, which would refuse tasks:
they are copied from the parent on creation, for every directory this manager creates.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from hako.runtime.cgroups import base
from hako.runtime.cgroups.v1_controllers import CONTROLLERS

_IGNORED_HIERARCHIES = {"unified"}


def requested_subsystems(res: dict[str, Any]) -> list[str]:
    """The v1 subsystems a ``linux.resources`` dict needs: a hierarchy that is absent is
    only acceptable when nothing was asked of it. ``devices`` is needed whenever the spec
    carries device rules (always, from Docker's defaults): without it a container could open
    any device node it can create, so its absence is fatal, as in runc."""
    mem, cpu, bio = res.get("memory") or {}, res.get("cpu") or {}, res.get("blockIO") or {}
    net = res.get("network") or {}
    wanted = {
        "memory": bool(mem.get("limit") or mem.get("reservation") or mem.get("swap")
                       or mem.get("kernel") or mem.get("kernelTCP") or mem.get("disableOOMKiller")
                       or mem.get("swappiness") is not None),
        "cpu": any(cpu.get(k) for k in ("shares", "quota", "period", "realtimePeriod",
                                        "realtimeRuntime")) or cpu.get("idle") is not None,
        "cpuset": bool(cpu.get("cpus") or cpu.get("mems")),
        "pids": bool((res.get("pids") or {}).get("limit")),
        "blkio": any(bio.get(k) for k in ("weight", "leafWeight", "weightDevice",
                                          "throttleReadBpsDevice", "throttleWriteBpsDevice",
                                          "throttleReadIOPSDevice", "throttleWriteIOPSDevice")),
        "devices": bool(res.get("devices")),
        "net_cls": bool(net.get("classID")),
        "net_prio": bool(net.get("priorities")),
    }
    return [name for name, asked in wanted.items() if asked]


def discover_hierarchies(root: str) -> dict[str, str]:
    """Map each v1 subsystem name to its hierarchy root directory.

    Args:
        root: directory holding the v1 mounts (normally /sys/fs/cgroup).

    Returns:
        ``{"memory": "<root>/memory", "cpu": "<root>/cpu,cpuacct", ...}``; named hierarchies
        such as ``name=systemd`` appear under their directory name ("systemd").
    """
    found: dict[str, str] = {}
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        return found
    for entry in entries:
        full = os.path.join(root, entry)
        if entry in _IGNORED_HIERARCHIES or not os.path.isdir(full):
            continue
        real = os.path.realpath(full)
        for name in os.path.basename(real).split(","):
            found.setdefault(name, real)
    return found


class CgroupV1Manager:
    """A container's cgroup in every mounted v1 hierarchy.

    Args:
        path: cgroups path, cgroupfs style ("/hako/<id>").
        root: directory holding the v1 hierarchies (injectable for tests).
    """

    def __init__(self, path: str, root: str = "/sys/fs/cgroup") -> None:
        self._path = base.normalize_path(path)
        self._root = root
        self._hierarchies = discover_hierarchies(root)
        # a relative path is placed under the runtime's own cgroup of each hierarchy, as
        # runc's subsysPath does (GetOwnCgroupPath)
        self._own = base.own_cgroups() if not path.startswith("/") else {}
        self.warnings: list[str] = []
        self._made = False  # create() ran: apply and set each call it, once is enough

    def _sub_path(self, subsystem: str) -> str:
        return self._own.get(subsystem, "") + self._path

    @property
    def path(self) -> str:
        return self._path

    def dir_for(self, subsystem: str) -> str | None:
        """The container's directory in ``subsystem``'s hierarchy, or None if unmounted."""
        hroot = self._hierarchies.get(subsystem)
        return None if hroot is None else hroot + self._sub_path(subsystem)

    def _dirs(self) -> list[str]:
        """The container's directory in each distinct hierarchy."""
        return sorted({h + self._sub_path(s) for s, h in self._hierarchies.items()})

    # ------------------------------------------------------------- lifecycle

    def create(self) -> None:
        """Create the directory in every hierarchy (idempotent)."""
        if self._made:
            return
        cpuset = self.dir_for("cpuset")
        for directory in self._dirs():
            if directory == cpuset:
                _make_cpuset_dirs(self._hierarchies["cpuset"], self._sub_path("cpuset"))
            else:
                os.makedirs(directory, exist_ok=True)
        self._made = True

    def apply(self, pid: int) -> None:
        """Create the cgroup in every hierarchy and move ``pid`` into each.

        Raises:
            CgroupError: a directory cannot be created or the pid cannot be moved.
        """
        try:
            self.create()
        except OSError as exc:
            raise base.CgroupError(f"create cgroup {self._path}: {exc}") from exc
        for directory in self._dirs():
            base.write_value(directory, "cgroup.procs", pid)

    def set(self, resources: dict[str, Any]) -> None:
        """Write OCI ``linux.resources`` through each subsystem's controller.

        Raises:
            InvalidArgument: the kernel rejected a value.
            CgroupError: a control file could not be written.
        """
        base.refuse_unimplemented(resources)
        missing = [name for name in requested_subsystems(resources or {}) if self.dir_for(name) is None]
        if missing:  # never run without a limit that was asked for
            raise base.CgroupError(
                f"cgroup v1 subsystem(s) {', '.join(missing)} not mounted under {self._root}: "
                "cannot apply the requested resource limits")
        self.create()
        for controller in CONTROLLERS:
            directory = self.dir_for(controller.name)
            if directory is not None:
                controller.set(directory, resources or {}, self.warnings)

    def freeze(self, timeout: float = base.DEFAULT_TIMEOUT) -> None:
        """Write FROZEN and wait until freezer.state reads FROZEN.

        Raises:
            Unsupported: the freezer hierarchy is not mounted.
            CgroupError: the state did not settle before the deadline.
        """
        self._set_freezer("FROZEN", timeout)

    def thaw(self, timeout: float = base.DEFAULT_TIMEOUT) -> None:
        """Write THAWED and wait until freezer.state reads THAWED."""
        self._set_freezer("THAWED", timeout)

    def _set_freezer(self, state: str, timeout: float) -> None:
        from hako.errors import Unsupported

        directory = self.dir_for("freezer")
        if directory is None:
            raise Unsupported("the freezer cgroup is not mounted")

        def settled() -> bool:
            if base.read_value(directory, "freezer.state") == state:
                return True
            base.write_value(directory, "freezer.state", state)  # re-kick, like runc
            return False

        base.write_value(directory, "freezer.state", state)
        base.wait_for(settled, timeout, f"freezer state {state}")

    def pids(self) -> list[int]:
        """Pids in the cgroup (read from the first hierarchy that has the dir)."""
        for directory in self._dirs():
            if os.path.isdir(directory):
                return base.read_procs(directory)
        return []

    def destroy(self, timeout: float = base.DEFAULT_TIMEOUT) -> None:
        """SIGKILL what is left (frozen first so nothing forks), wait, rmdir every dir.

        Raises:
            CgroupError: processes or directories remain after the deadline.
        """
        self._made = False
        if self.pids():
            self._kill_all(timeout)
        for directory in self._dirs():
            base.rmdir_with_retry(directory, timeout)

    def _kill_all(self, timeout: float) -> None:
        freezer = self.dir_for("freezer")
        frozen = False
        if freezer is not None and os.path.isdir(freezer):
            try:
                self.freeze(timeout)
                frozen = True
            except base.CgroupError:
                frozen = False
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if frozen:
            self.thaw(timeout)
        base.wait_for(lambda: not self.pids(), timeout, f"cgroup {self._path} to empty")

    # ------------------------------------------------------------- accounting

    def oom_kill_count(self) -> int:
        """The ``oom_kill`` counter of memory.oom_control (0 without the memory hierarchy)."""
        directory = self.dir_for("memory")
        if directory is None:
            return 0
        return base.read_keyed(directory, "memory.oom_control").get("oom_kill", 0)

    def stats(self) -> dict[str, Any]:
        """Usage keyed like Docker's /stats sections (cpu_stats, memory_stats, ...)."""
        out: dict[str, Any] = {}
        for controller in CONTROLLERS:
            directory = self.dir_for(controller.name)
            if directory is not None and os.path.isdir(directory):
                controller.stats(directory, out)
        return out


def _make_cpuset_dirs(hierarchy_root: str, path: str) -> None:
    """Create each missing level of ``path`` in the cpuset hierarchy, inheriting cpus/mems."""
    current = hierarchy_root
    for part in path.strip("/").split("/"):
        parent, current = current, os.path.join(current, part)
        try:
            os.mkdir(current)
        except FileExistsError:
            pass
        for name in ("cpuset.cpus", "cpuset.mems"):
            try:
                value = base.read_value(current, name)
            except base.CgroupError:
                value = ""
            if not value:
                inherited = base.read_value(parent, name)
                if inherited:
                    base.write_value(current, name, inherited)
