"""cgroup v1 subsystem controllers: each knows its control files, for set() and stats().

Layer: runtime (3). May import: errors, runtime.cgroups.base.

A controller gets the container's directory in its own hierarchy, the OCI
``linux.resources`` dict, and the manager's warnings list. Values absent from the dict
(or zero where zero means "unset" in the OCI spec) leave the file untouched.
"""

from __future__ import annotations

import os
from typing import Any

from hako.errors import InvalidArgument
from hako.runtime.cgroups import base

_MEMSW = "memory.memsw.limit_in_bytes"


class MemoryController:
    """memory.limit_in_bytes, memsw, soft limit, swappiness, OOM killer switch, kmem."""

    name = "memory"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        mem = res.get("memory") or {}
        limit, swap = mem.get("limit") or 0, mem.get("swap") or 0
        has_memsw = os.path.exists(os.path.join(d, _MEMSW))
        if swap and not has_memsw:
            warnings.append(base.SWAP_WARNING)
            swap = 0
        if limit == -1 and not swap and has_memsw:
            swap = -1
        self._set_limit_and_swap(d, limit, swap)
        if mem.get("reservation"):
            base.write_value(d, "memory.soft_limit_in_bytes", mem["reservation"])
        swappiness = mem.get("swappiness")
        if swappiness is not None and 0 <= swappiness <= 100:
            base.write_value(d, "memory.swappiness", swappiness)
        if mem.get("disableOOMKiller"):
            base.write_value(d, "memory.oom_control", 1)
        if mem.get("kernelTCP"):
            base.write_value(d, "memory.kmem.tcp.limit_in_bytes", mem["kernelTCP"])
        if mem.get("kernel"):
            self._set_kernel(d, mem["kernel"])

    @staticmethod
    def _set_kernel(d: str, kernel: int) -> None:
        """memory.kmem.limit_in_bytes; since Linux 5.16 the file takes writes and ignores
        them (runc 1.1 ignores the setting): read back, refuse a limit that did not hold."""
        base.write_value(d, "memory.kmem.limit_in_bytes", kernel)
        page = os.sysconf("SC_PAGE_SIZE")
        if kernel > 0 and base.read_int(d, "memory.kmem.limit_in_bytes", -1) != kernel // page * page:
            raise InvalidArgument("linux.resources.memory.kernel: this kernel does not apply "
                                  "kernel memory limits (memory.kmem.limit_in_bytes ignores "
                                  "them since Linux 5.16)")

    @staticmethod
    def _set_limit_and_swap(d: str, limit: int, swap: int) -> None:
        # The kernel keeps memory.limit <= memsw.limit at every step: when raising, memsw
        # goes first; when lowering, the memory limit goes first (runc's order).
        if limit and swap:
            current = base.read_int(d, "memory.limit_in_bytes", default=-1)
            if swap == -1 or 0 <= current < swap:
                base.write_value(d, _MEMSW, swap)
                base.write_value(d, "memory.limit_in_bytes", limit)
                return
        if limit:
            base.write_value(d, "memory.limit_in_bytes", limit)
        if swap:
            base.write_value(d, _MEMSW, swap)

    def stats(self, d: str, out: dict[str, Any]) -> None:
        out["memory_stats"] = {
            "usage": base.read_int(d, "memory.usage_in_bytes"),
            "max_usage": base.read_int(d, "memory.max_usage_in_bytes"),
            "failcnt": base.read_int(d, "memory.failcnt"),
            "limit": base.read_int(d, "memory.limit_in_bytes"),
            "stats": base.read_keyed(d, "memory.stat"),
        }


class CpuController:
    """cpu.shares, CFS quota/period, realtime budget, cpu.idle; throttling stats."""

    name = "cpu"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        cpu = res.get("cpu") or {}
        if cpu.get("shares"):
            base.write_value(d, "cpu.shares", cpu["shares"])
        period, quota = cpu.get("period") or 0, cpu.get("quota") or 0
        period_failed = False
        if period:
            try:
                base.write_value(d, "cpu.cfs_period_us", period)
            except InvalidArgument:
                period_failed = True  # the old quota does not fit the new period yet
        if quota:
            base.write_value(d, "cpu.cfs_quota_us", quota)
        if period_failed:
            base.write_value(d, "cpu.cfs_period_us", period)
        if cpu.get("realtimePeriod"):
            base.write_value(d, "cpu.rt_period_us", cpu["realtimePeriod"])
        if cpu.get("realtimeRuntime"):
            base.write_value(d, "cpu.rt_runtime_us", cpu["realtimeRuntime"])
        if cpu.get("idle") is not None and os.path.exists(os.path.join(d, "cpu.idle")):
            base.write_value(d, "cpu.idle", cpu["idle"])

    def stats(self, d: str, out: dict[str, Any]) -> None:
        st = base.read_keyed(d, "cpu.stat")
        cpu_stats = out.setdefault("cpu_stats", {})
        cpu_stats["throttling_data"] = {
            "periods": st.get("nr_periods", 0),
            "throttled_periods": st.get("nr_throttled", 0),
            "throttled_time": st.get("throttled_time", 0),
        }


class CpuacctController:
    """CPU time accounting only (nothing to set)."""

    name = "cpuacct"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        return None

    def stats(self, d: str, out: dict[str, Any]) -> None:
        try:
            percpu = [int(x) for x in base.read_value(d, "cpuacct.usage_percpu").split()]
        except (base.CgroupError, ValueError):
            percpu = []
        user = base.read_int(d, "cpuacct.usage_user", default=-1)
        system = base.read_int(d, "cpuacct.usage_sys", default=-1)
        if user < 0 or system < 0:
            ticks = base.read_keyed(d, "cpuacct.stat")
            ns_per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
            user = ticks.get("user", 0) * ns_per_tick
            system = ticks.get("system", 0) * ns_per_tick
        out.setdefault("cpu_stats", {})["cpu_usage"] = {
            "total_usage": base.read_int(d, "cpuacct.usage"),
            "percpu_usage": percpu,
            "usage_in_usermode": user,
            "usage_in_kernelmode": system,
        }


class CpusetController:
    """cpuset.cpus and cpuset.mems."""

    name = "cpuset"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        cpu = res.get("cpu") or {}
        if cpu.get("cpus"):
            base.write_value(d, "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            base.write_value(d, "cpuset.mems", cpu["mems"])

    def stats(self, d: str, out: dict[str, Any]) -> None:
        return None


class PidsController:
    """pids.max (limit <= 0 means unlimited in Docker; -1 writes "max")."""

    name = "pids"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        limit = (res.get("pids") or {}).get("limit")
        if limit is None or limit == 0:
            return
        base.write_value(d, "pids.max", "max" if limit < 0 else limit)

    def stats(self, d: str, out: dict[str, Any]) -> None:
        pids_stats: dict[str, int] = {"current": base.read_int(d, "pids.current")}
        limit = base.read_int(d, "pids.max", default=0)
        if limit:
            pids_stats["limit"] = limit
        out["pids_stats"] = pids_stats


_THROTTLE_KEYS = {
    "throttleReadBpsDevice": "blkio.throttle.read_bps_device",
    "throttleWriteBpsDevice": "blkio.throttle.write_bps_device",
    "throttleReadIOPSDevice": "blkio.throttle.read_iops_device",
    "throttleWriteIOPSDevice": "blkio.throttle.write_iops_device",
}


class BlkioController:
    """blkio weight (CFQ or BFQ), per-device weights and throttles; io stats."""

    name = "blkio"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        bio = res.get("blockIO") or {}
        weight_file = "blkio.weight"
        if not os.path.exists(os.path.join(d, weight_file)) and os.path.exists(
            os.path.join(d, "blkio.bfq.weight")
        ):
            weight_file = "blkio.bfq.weight"
        if bio.get("weight"):
            base.write_value(d, weight_file, bio["weight"])
        if bio.get("leafWeight"):
            base.write_value(d, "blkio.leaf_weight", bio["leafWeight"])
        for dev in bio.get("weightDevice") or []:
            if dev.get("weight"):
                base.write_value(d, weight_file + "_device",
                                 f"{dev['major']}:{dev['minor']} {dev['weight']}")
        for key, filename in _THROTTLE_KEYS.items():
            for dev in bio.get(key) or []:
                base.write_value(d, filename, f"{dev['major']}:{dev['minor']} {dev['rate']}")

    def stats(self, d: str, out: dict[str, Any]) -> None:
        out["blkio_stats"] = {
            "io_service_bytes_recursive": _blkio_entries(d, "io_service_bytes_recursive"),
            "io_serviced_recursive": _blkio_entries(d, "io_serviced_recursive"),
        }


def _blkio_entries(d: str, suffix: str) -> list[dict[str, Any]]:
    """Parse "major:minor Op value" lines (CFQ file first, then the throttle one)."""
    for name in (f"blkio.{suffix}", f"blkio.throttle.{suffix}"):
        try:
            text = base.read_value(d, name)
        except base.CgroupError:
            continue
        entries = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) != 3 or ":" not in parts[0]:
                continue
            major, minor = parts[0].split(":", 1)
            entries.append({"major": int(major), "minor": int(minor),
                            "op": parts[1], "value": int(parts[2])})
        return entries
    return []


def device_rule_line(rule: dict[str, Any]) -> str:
    """Format an OCI device rule as a devices.allow/deny line ("c 1:3 rwm").

    Args:
        rule: ``{"allow": bool, "type": "a|c|b", "major": int|None, "minor": int|None,
            "access": "rwm"}``; a missing major/minor is the "*" wildcard.

    Returns:
        The line to write.
    """
    kind = rule.get("type") or "a"
    major = "*" if rule.get("major") in (None, -1) else rule["major"]
    minor = "*" if rule.get("minor") in (None, -1) else rule["minor"]
    return f"{kind} {major}:{minor} {rule.get('access') or 'rwm'}"


class DevicesController:
    """devices.allow / devices.deny, written in rule order."""

    name = "devices"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        for rule in res.get("devices") or []:
            target = "devices.allow" if rule.get("allow") else "devices.deny"
            base.write_value(d, target, device_rule_line(rule))

    def stats(self, d: str, out: dict[str, Any]) -> None:
        return None


class NetClsController:
    """net_cls.classid."""

    name = "net_cls"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        class_id = (res.get("network") or {}).get("classID")
        if class_id:
            base.write_value(d, "net_cls.classid", class_id)

    def stats(self, d: str, out: dict[str, Any]) -> None:
        return None


class NetPrioController:
    """net_prio.ifpriomap, one interface per write."""

    name = "net_prio"

    def set(self, d: str, res: dict[str, Any], warnings: list[str]) -> None:
        for prio in (res.get("network") or {}).get("priorities") or []:
            base.write_value(d, "net_prio.ifpriomap", f"{prio['name']} {prio['priority']}")

    def stats(self, d: str, out: dict[str, Any]) -> None:
        return None


CONTROLLERS = (
    MemoryController(), CpuController(), CpuacctController(), CpusetController(),
    PidsController(), BlkioController(), DevicesController(), NetClsController(),
    NetPrioController(),
)
