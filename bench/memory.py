"""Process figures for the benchmark: RSS and PSS from /proc/<pid>/smaps_rollup, the
resident memory of a group of processes with each page counted once (/proc/<pid>/pagemap),
CPU time.

Not part of the engine: bench/ is a script directory (``make bench``).
"""

from __future__ import annotations

import os
import struct

PAGE = os.sysconf("SC_PAGE_SIZE")
_PRESENT = 1 << 63
_PFN = (1 << 55) - 1


def rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes; (0, 0) when it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Rss":
                    rss = int(rest.split()[0]) * 1024
                elif key == "Pss":
                    pss = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        return 0, 0
    return rss, pss


def resident_once(pids: list[int]) -> int | None:
    """Bytes of physical memory resident in any of ``pids``, each page frame counted once.

    Summed RSS counts a page once per process that maps it: hakod and its zygote both map
    libpython and the C library (the same page-cache pages), so their RSS sum counts those
    twice although the machine holds them once. This walks each process's mappings that
    have resident pages (smaps) and reads their page frame numbers from pagemap; the answer
    is the number of distinct frames. None when the frame numbers are hidden (not root: the
    kernel reports them as 0) or a process is gone."""
    frames: set[int] = set()
    try:
        for pid in pids:
            with open(f"/proc/{pid}/smaps") as smaps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
                start = end = 0
                for line in smaps:
                    first = line.split(None, 1)[0]
                    if not first.endswith(":"):  # a mapping's header: start-end perms ...
                        lo, _, hi = first.partition("-")
                        start, end = int(lo, 16), int(hi, 16)
                    elif first == "Rss:" and line.split()[1] != "0":
                        pagemap.seek(start // PAGE * 8)
                        data = pagemap.read((end - start) // PAGE * 8)
                        frames.update(e & _PFN for (e,) in struct.iter_unpack("<Q", data) if e & _PRESENT)
    except (OSError, ValueError):
        return None
    frames.discard(0)
    return len(frames) * PAGE if frames else None


def children_map() -> dict[int, list[int]]:
    """ppid → child pids, for every process on the host."""
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        out.setdefault(ppid, []).append(int(name))
    return out


def subtree(pid: int, kids: dict[int, list[int]]) -> set[int]:
    """pid and all its descendants."""
    seen, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(kids.get(p, ()))
    return seen


def parent(pid: int) -> int:
    """The parent pid (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    return int(stat[stat.rindex(b")") + 2:].split()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes ``pids`` (their own, not their children's)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / tick


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def per_container_overhead(init_pids: list[int]) -> tuple[float, float, list[str]]:
    """Mean (RSS, PSS) per container of what runs beside each container's processes.

    For every container init pid, its parent is the shim (hako's shim is a subreaper and
    containerd-shim-runc-v2 is the init's parent too); the shim's process tree minus the
    init's own subtree is the per-container cost: the shim and any runtime leftovers.

    Returns:
        (mean RSS bytes, mean PSS bytes, names of the processes counted for one container).
    """
    kids = children_map()
    rss_total = pss_total = 0
    names: list[str] = []
    for init in init_pids:
        shim = parent(init)
        extra = subtree(shim, kids) - subtree(init, kids)
        if not names:
            names = sorted(comm(p) for p in extra)
        for p in extra:
            rss, pss = rollup(p)
            rss_total += rss
            pss_total += pss
    n = max(1, len(init_pids))
    return rss_total / n, pss_total / n, names


def procs_named(name: str) -> list[int]:
    """Pids whose comm is exactly ``name``."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and comm(int(p)) == name]
