"""cgroup v2 driver: one directory in the unified hierarchy.

Layer: runtime (3). May import: errors, runtime.cgroups.base.

On-disk layout (root defaults to /sys/fs/cgroup, a pure cgroup2 mount)::

    <root>/cgroup.subtree_control             "+cpu +memory ..." enabled on every ancestor
    <root>/<cgroups_path>/cgroup.procs        the container's processes
    <root>/<cgroups_path>/{cpu,memory,pids,io,cpuset}.*, cgroup.freeze, cgroup.events

Conversions from the OCI (v1-shaped) values follow runc: cpu.weight from shares,
``memory.swap.max = swap - memory``, io.weight from blkio weight. Device rules need an
eBPF program on v2: they are skipped with a warning.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from hako.runtime.cgroups import base


def _log() -> Any:
    """The module's logger; ``logging`` (a dozen modules, ~1 MiB) is imported only when a
    message is logged: the shim zygote preloads this module."""
    import logging

    return logging.getLogger(__name__)


_WANTED = ("cpuset", "cpu", "io", "memory", "pids", "hugetlb", "misc")
_THROTTLE = {
    "throttleReadBpsDevice": "rbps",
    "throttleWriteBpsDevice": "wbps",
    "throttleReadIOPSDevice": "riops",
    "throttleWriteIOPSDevice": "wiops",
}


def _max(value: int) -> str:
    return "max" if value < 0 else str(value)


class CgroupV2Manager:
    """A container's cgroup in the unified hierarchy.

    Args:
        path: cgroups path, cgroupfs style ("/hako/<id>").
        root: the cgroup2 mount point (injectable for tests).
    """

    def __init__(self, path: str, root: str = "/sys/fs/cgroup") -> None:
        self._path = base.normalize_path(path)
        self._root = root
        # relative: under the runtime's own cgroup, as runc places it
        own = base.own_cgroups().get("", "") if not path.startswith("/") else ""
        self._dir = root.rstrip("/") + own + self._path
        self.warnings: list[str] = []
        self._made = False

    @property
    def path(self) -> str:
        return self._path

    @property
    def directory(self) -> str:
        """Absolute directory of this cgroup."""
        return self._dir

    # ------------------------------------------------------------- lifecycle

    def create(self) -> None:
        """Enable controllers on every ancestor, then create the directory (idempotent).

        Raises:
            CgroupError: a directory cannot be created.
        """
        if self._made:
            return
        current = self._root.rstrip("/")
        for part in self._path.strip("/").split("/"):
            _enable_controllers(current)
            current = os.path.join(current, part)
            try:
                os.mkdir(current)
            except FileExistsError:
                pass
            except OSError as exc:
                raise base.CgroupError(f"mkdir {current}: {exc.strerror}") from exc
        self._made = True  # apply and set each call create(): once is enough

    def apply(self, pid: int) -> None:
        """Create the cgroup and move ``pid`` in."""
        self.create()
        base.write_value(self._dir, "cgroup.procs", pid)

    def set(self, resources: dict[str, Any]) -> None:
        """Write OCI ``linux.resources`` to the v2 control files.

        Raises:
            InvalidArgument: the kernel rejected a value.
            CgroupError: a control file could not be written.
        """
        res = resources or {}
        base.refuse_unimplemented(res)
        self.create()
        self._set_cpu(res.get("cpu") or {})
        self._set_memory(res.get("memory") or {})
        limit = (res.get("pids") or {}).get("limit")
        if limit:
            base.write_value(self._dir, "pids.max", _max(limit))
        self._set_io(res.get("blockIO") or {})
        if res.get("devices") and any(not _is_default_deny(r) for r in res["devices"]):
            _log().warning("%s: %s", self._path, base.DEVICES_V2_WARNING)
            self.warnings.append(base.DEVICES_V2_WARNING)
        for key, value in (res.get("unified") or {}).items():
            if "/" in key or key.startswith("."):
                from hako.errors import InvalidArgument

                raise InvalidArgument(f"invalid unified resource key {key!r}")
            base.write_value(self._dir, key, value)

    def _set_cpu(self, cpu: dict[str, Any]) -> None:
        d = self._dir
        weight = base.shares_to_weight(cpu.get("shares") or 0)
        if weight:
            base.write_value(d, "cpu.weight", weight)
        quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
        if quota or period:
            quota_text = "max" if quota <= 0 else str(quota)
            base.write_value(d, "cpu.max", f"{quota_text} {period or 100000}")
        if cpu.get("idle") is not None and os.path.exists(os.path.join(d, "cpu.idle")):
            base.write_value(d, "cpu.idle", cpu["idle"])
        if cpu.get("cpus"):
            base.write_value(d, "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            base.write_value(d, "cpuset.mems", cpu["mems"])

    def _set_memory(self, mem: dict[str, Any]) -> None:
        d = self._dir
        limit, swap = mem.get("limit") or 0, mem.get("swap") or 0
        if swap and not os.path.exists(os.path.join(d, "memory.swap.max")):
            self.warnings.append(base.SWAP_WARNING)
            swap = 0
        if swap:
            if swap == -1 or limit == -1:
                swap_max = "max"
            elif limit:
                swap_max = str(max(swap - limit, 0))
            else:
                swap_max = str(swap)
            base.write_value(d, "memory.swap.max", swap_max)
        if limit:
            base.write_value(d, "memory.max", _max(limit))
        if mem.get("reservation"):
            base.write_value(d, "memory.low", _max(mem["reservation"]))

    def _set_io(self, bio: dict[str, Any]) -> None:
        d = self._dir
        weight = bio.get("weight") or 0
        if weight:
            if os.path.exists(os.path.join(d, "io.bfq.weight")):
                base.write_value(d, "io.bfq.weight", weight)
            else:
                base.write_value(d, "io.weight", base.blkio_weight_to_io_weight(weight))
        bfq = os.path.exists(os.path.join(d, "io.bfq.weight"))
        for dev in bio.get("weightDevice") or []:  # as runc: BFQ's file, else io.weight's
            if dev.get("weight"):
                value = dev["weight"] if bfq else base.blkio_weight_to_io_weight(dev["weight"])
                base.write_value(d, "io.bfq.weight" if bfq else "io.weight",
                                 f"{dev['major']}:{dev['minor']} {value}")
        for key, word in _THROTTLE.items():
            for dev in bio.get(key) or []:
                base.write_value(d, "io.max", f"{dev['major']}:{dev['minor']} {word}={dev['rate']}")

    def freeze(self, timeout: float = base.DEFAULT_TIMEOUT) -> None:
        """Write 1 to cgroup.freeze and wait until cgroup.events reports ``frozen 1``."""
        self._set_frozen(1, timeout)

    def thaw(self, timeout: float = base.DEFAULT_TIMEOUT) -> None:
        """Write 0 to cgroup.freeze and wait until cgroup.events reports ``frozen 0``."""
        self._set_frozen(0, timeout)

    def _set_frozen(self, value: int, timeout: float) -> None:
        base.write_value(self._dir, "cgroup.freeze", value)
        base.wait_for(
            lambda: base.read_keyed(self._dir, "cgroup.events").get("frozen") == value,
            timeout, f"cgroup.events frozen {value}",
        )

    def pids(self) -> list[int]:
        """Pids listed in cgroup.procs ([] when the directory is gone)."""
        return base.read_procs(self._dir)

    def destroy(self, timeout: float = base.DEFAULT_TIMEOUT) -> None:
        """cgroup.kill (or SIGKILL each pid), wait until empty, rmdir.

        Raises:
            CgroupError: processes or the directory remain after the deadline.
        """
        self._made = False
        if not os.path.isdir(self._dir):
            return
        if self.pids():
            if os.path.exists(os.path.join(self._dir, "cgroup.kill")):
                base.write_value(self._dir, "cgroup.kill", 1)
            else:
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            base.wait_for(lambda: not self.pids(), timeout, f"cgroup {self._path} to empty")
        base.rmdir_with_retry(self._dir, timeout)

    # ------------------------------------------------------------- accounting

    def oom_kill_count(self) -> int:
        """The ``oom_kill`` counter of memory.events."""
        return base.read_keyed(self._dir, "memory.events").get("oom_kill", 0)

    def stats(self) -> dict[str, Any]:
        """Usage keyed like Docker's /stats sections (cgroup v2 flavour)."""
        d = self._dir
        cpu = base.read_keyed(d, "cpu.stat")
        out: dict[str, Any] = {
            "cpu_stats": {
                "cpu_usage": {
                    "total_usage": cpu.get("usage_usec", 0) * 1000,
                    "usage_in_usermode": cpu.get("user_usec", 0) * 1000,
                    "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
                },
                "throttling_data": {
                    "periods": cpu.get("nr_periods", 0),
                    "throttled_periods": cpu.get("nr_throttled", 0),
                    "throttled_time": cpu.get("throttled_usec", 0) * 1000,
                },
            },
            "memory_stats": {
                "usage": base.read_int(d, "memory.current"),
                "limit": base.read_int(d, "memory.max"),
                "stats": base.read_keyed(d, "memory.stat"),
            },
            "pids_stats": {"current": base.read_int(d, "pids.current")},
            "blkio_stats": {"io_service_bytes_recursive": _io_stat_entries(d)},
        }
        pids_limit = base.read_int(d, "pids.max")
        if pids_limit:
            out["pids_stats"]["limit"] = pids_limit
        return out


def _enable_controllers(directory: str) -> None:
    """Enable every wanted controller ``directory`` offers in its cgroup.subtree_control."""
    try:
        available = set(base.read_value(directory, "cgroup.controllers").split())
        enabled = set(base.read_value(directory, "cgroup.subtree_control").split())
    except base.CgroupError:
        return
    missing = [n for n in _WANTED if n in available and n not in enabled]
    if not missing:
        return
    try:  # one write enables all of them at once, like runc
        base.write_value(directory, "cgroup.subtree_control", " ".join(f"+{n}" for n in missing))
        return
    except base.CgroupError:
        pass
    for name in missing:  # then one by one, so one refusal does not block the rest
        try:
            base.write_value(directory, "cgroup.subtree_control", f"+{name}")
        except base.CgroupError as exc:  # e.g. a process sits in an inner node
            _log().debug("enable %s in %s: %s", name, directory, exc)


def _is_default_deny(rule: dict[str, Any]) -> bool:
    """The leading ``{"allow": false, "access": "rwm"}`` rule every spec carries."""
    return not rule.get("allow") and (rule.get("type") or "a") == "a"


def _io_stat_entries(d: str) -> list[dict[str, Any]]:
    """io.stat ("8:0 rbytes=1 wbytes=2 ...") as Docker's v2 entries (op "read"/"write")."""
    try:
        text = base.read_value(d, "io.stat")
    except base.CgroupError:
        return []
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, minor = (int(x) for x in parts[0].split(":", 1))
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op in (("rbytes", "read"), ("wbytes", "write")):
            if key in fields:
                entries.append({"major": major, "minor": minor, "op": op,
                                "value": int(fields[key])})
    return entries
