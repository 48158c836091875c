"""/proc readers: process start time and state, namespace links.

Layer: linux (2). May import: nothing internal.
"""

from __future__ import annotations


def read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat, with ``comm`` as field 1 (parentheses stripped).

    Returns:
        The fields (index 0 = pid, 1 = comm, 2 = state, 21 = starttime), or None if the
        process does not exist.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    lpar, rpar = raw.find("("), raw.rfind(")")
    return [raw[:lpar].strip(), raw[lpar + 1:rpar]] + raw[rpar + 2:].split()


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None if it does not exist."""
    fields = read_stat(pid)
    return int(fields[21]) if fields else None


def state(pid: int) -> str | None:
    """One-letter state of ``pid`` (R, S, D, Z, T, X...), or None if it does not exist."""
    fields = read_stat(pid)
    return fields[2] if fields else None


def is_alive(pid: int, expected_start: int | None = None) -> bool:
    """Whether ``pid`` exists, is not a zombie, and (if given) started at ``expected_start``.

    The start time guards against pid reuse.
    """
    fields = read_stat(pid)
    if fields is None or fields[2] in ("Z", "X", "x"):
        return False
    return expected_start is None or int(fields[21]) == expected_start


def ns_path(pid: int | str, kind: str) -> str:
    """Path of a namespace link of ``pid`` ("net", "mnt", "pid", ...)."""
    return f"/proc/{pid}/ns/{kind}"


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (scans /proc; for ``top``-like use)."""
    import os

    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = read_stat(int(name))
            if fields and int(fields[3]) == pid:
                found.append(int(name))
    return found
