"""A container's cgroup resources after create: ``docker update`` and ``docker stats``.

``update`` follows moby's ``container.UpdateContainer``: only the fields the request sets
(non-zero, non-empty) replace the stored HostConfig values, the result is validated like a
create, and a running container gets the new limits written to its cgroup at once.
``stats`` renders Docker's stats JSON from the cgroup manager's counters (which are already
keyed like Docker's sections) plus the host-wide CPU time the client divides by.

Layer: daemon (6). May import: errors, support, runtime.
"""

from __future__ import annotations

import os
from typing import Any

from hako.daemon import create as createpolicy
from hako.daemon.state import Container, Status, now_rfc3339, ZERO_TIME
from hako.errors import Conflict, InvalidArgument

_UPDATE_INTS = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "Memory",
                "MemorySwap", "MemoryReservation", "KernelMemory", "CpuRealtimePeriod",
                "CpuRealtimeRuntime")
_UPDATE_STRS = ("CpusetCpus", "CpusetMems")


def update(svc: Any, c: Container, body: dict[str, Any]) -> list[str]:
    """Apply a Docker ``ContainerUpdateRequest`` to the record and, if running, the cgroup.

    Returns:
        Warnings for the client.

    Raises:
        InvalidArgument: a value Docker refuses. Conflict: restart policy with AutoRemove.
    """
    hc = dict(c.host_config)
    for key in _UPDATE_INTS:
        value = body.get(key)
        if value:
            hc[key] = int(value)
    for key in _UPDATE_STRS:
        if body.get(key):
            hc[key] = body[key]
    if body.get("PidsLimit") is not None:
        limit = int(body["PidsLimit"])
        hc["PidsLimit"] = None if limit <= 0 else limit
    if body.get("Memory") and not body.get("MemorySwap"):
        swap = int(hc.get("MemorySwap") or 0)
        if swap > 0 and int(body["Memory"]) > swap:
            raise InvalidArgument("Memory limit should be smaller than already set memoryswap limit, "
                                  "update the memoryswap at the same time")
    policy = body.get("RestartPolicy") or {}
    if policy.get("Name"):
        if policy["Name"] != "no" and hc.get("AutoRemove"):
            raise Conflict("Restart policy cannot be updated because AutoRemove is enabled for the container")
        hc["RestartPolicy"] = {"Name": policy["Name"], "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
    warnings = createpolicy.validate_host_config(hc, update=True)
    from hako.daemon import rootless

    rootless.check_resources(svc.config, hc)
    if c.state.running:
        _apply_cgroup(svc, c, hc)
    c.host_config = hc
    svc.store.save(c)
    return warnings


def _apply_cgroup(svc: Any, c: Container, hc: dict[str, Any]) -> None:
    from hako.daemon import bundle
    from hako.runtime.cgroups.detect import new_manager
    from hako.runtime.specgen import with_resources

    saved = c.host_config
    c.host_config = hc
    try:
        opts = bundle.spec_options(svc, c, bundle.rootfs_dir(svc, c))
    finally:
        c.host_config = saved
    spec: dict[str, Any] = {"linux": {}}
    with_resources(spec, opts)
    new_manager(svc.cgroups_path(c), c.id).set(spec["linux"].get("resources") or {})


def stats(svc: Any, c: Container, pre: dict[str, Any] | None = None) -> dict[str, Any]:
    """One stats sample in Docker's shape; ``pre`` is the previous sample (or None)."""
    running = c.state.running
    out: dict[str, Any] = {"read": now_rfc3339() if running else ZERO_TIME,
                           "preread": (pre or {}).get("read", ZERO_TIME),
                           "pids_stats": {}, "blkio_stats": {}, "num_procs": 0, "storage_stats": {},
                           "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                                       "usage_in_usermode": 0},
                                         "throttling_data": {"periods": 0, "throttled_periods": 0,
                                                             "throttled_time": 0}},
                           "memory_stats": {}, "name": "/" + c.name, "id": c.id}
    if running:
        from hako.runtime.cgroups.detect import new_manager

        try:
            sample = new_manager(svc.cgroups_path(c), c.id).stats()
        except Exception:  # noqa: BLE001 - the container may have just exited
            sample = {}
        for key, value in sample.items():
            out[key] = dict(out.get(key) or {}, **value) if isinstance(value, dict) else value
        out["cpu_stats"]["system_cpu_usage"] = _system_cpu_ns()
        out["cpu_stats"]["online_cpus"] = os.cpu_count() or 1
        if (c.host_config.get("NetworkMode") or "default") != "none":
            out["networks"] = _networks(c.state.pid)
    out["precpu_stats"] = (pre or {}).get("cpu_stats") or {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    return out


def _system_cpu_ns() -> int:
    """Host CPU time in ns, as Docker's getSystemCPUUsage (first line of /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:8]
        ticks = sum(int(x) for x in fields)
    except (OSError, ValueError):
        return 0
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _networks(pid: int) -> dict[str, Any]:
    """Per-interface counters of the container's netns (``lo`` excluded, as Docker)."""
    nets: dict[str, Any] = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return nets
    for line in lines:
        name, _, data = line.partition(":")
        name, v = name.strip(), [int(x) for x in data.split()]
        if name == "lo" or len(v) < 16:
            continue
        nets[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                      "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return nets


def is_prunable(c: Container) -> bool:
    """Stopped containers are what ``container prune`` removes."""
    return c.state.status in (Status.EXITED, Status.CREATED, Status.DEAD)
