"""What the host's cgroups can limit, probed from their control files (moby's pkg/sysinfo).

``features()`` answers for ``docker info`` (MemoryLimit, SwapLimit, OomKillDisable…) and
for create and update, which discard what the host cannot do with Docker's warning instead
of accepting a setting that does nothing (``hako.daemon.create.check_resources``).

Layer: daemon (6). May import: nothing of hako's.
"""

from __future__ import annotations

import functools
import os

ROOT = "/sys/fs/cgroup"
# the keys docker info shows (the blkio ones only shape create's warnings)
INFO_KEYS = ("MemoryLimit", "SwapLimit", "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet",
             "PidsLimit", "OomKillDisable")


@functools.lru_cache(maxsize=4)
def features(root: str = ROOT) -> dict[str, bool]:
    """The host's cgroup features (cached: the hierarchy does not change under a daemon)."""
    controllers = os.path.join(root, "cgroup.controllers")
    if os.path.exists(controllers):
        with open(controllers) as f:
            ctl = set(f.read().split())
        io = "io" in ctl
        return {"MemoryLimit": "memory" in ctl, "SwapLimit": "memory" in ctl,
                "CpuCfsPeriod": "cpu" in ctl, "CpuCfsQuota": "cpu" in ctl, "CPUShares": "cpu" in ctl,
                "CPUSet": "cpuset" in ctl, "PidsLimit": "pids" in ctl,
                # cgroup v2 has neither (moby's sysinfo v2 says the same)
                "MemorySwappiness": False, "OomKillDisable": False,
                "BlkioWeight": io, "BlkioWeightDevice": io, "BlkioReadBpsDevice": io,
                "BlkioWriteBpsDevice": io, "BlkioReadIOpsDevice": io, "BlkioWriteIOpsDevice": io}

    def has(sub: str, *names: str) -> bool:
        return any(os.path.exists(os.path.join(root, sub, name)) for name in names)

    return {"MemoryLimit": has("memory", "memory.limit_in_bytes"),
            "SwapLimit": has("memory", "memory.memsw.limit_in_bytes"),
            "CpuCfsPeriod": has("cpu", "cpu.cfs_period_us"), "CpuCfsQuota": has("cpu", "cpu.cfs_quota_us"),
            "CPUShares": has("cpu", "cpu.shares"), "CPUSet": has("cpuset", "cpuset.cpus"),
            "PidsLimit": has("pids", "pids.max"),
            "MemorySwappiness": has("memory", "memory.swappiness"),
            "OomKillDisable": has("memory", "memory.oom_control"),
            # CFQ's weight files, or BFQ's (the only schedulers with a weight)
            "BlkioWeight": has("blkio", "blkio.weight", "blkio.bfq.weight"),
            "BlkioWeightDevice": has("blkio", "blkio.weight_device", "blkio.bfq.weight_device"),
            "BlkioReadBpsDevice": has("blkio", "blkio.throttle.read_bps_device"),
            "BlkioWriteBpsDevice": has("blkio", "blkio.throttle.write_bps_device"),
            "BlkioReadIOpsDevice": has("blkio", "blkio.throttle.read_iops_device"),
            "BlkioWriteIOpsDevice": has("blkio", "blkio.throttle.write_iops_device")}


def info_fields(root: str = ROOT) -> dict[str, bool]:
    """The cgroup features ``GET /info`` reports."""
    found = features(root)
    return {key: found[key] for key in INFO_KEYS}
