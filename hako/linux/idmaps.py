"""Writing a process's uid/gid maps: directly when privileged, else with newuidmap/newgidmap.

Layer: linux (2). May import: errors.

Root in the initial user namespace writes ``/proc/PID/uid_map`` and ``gid_map`` itself. An
unprivileged user may write only a one-line map of its own id (and must deny setgroups
first), so anything wider goes through the setuid helpers of Debian's ``uidmap`` package,
which check the ranges against ``/etc/subuid`` and ``/etc/subgid`` (as runc and rootlesskit
do). ``maps`` are ``(containerID, hostID, size)`` triples.
"""

from __future__ import annotations

import os

from hako.errors import InvalidArgument

def privileged() -> bool:
    """True when we are root of the initial user namespace (its uid_map maps everything)."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def text(maps) -> bytes:
    """The /proc/PID/{uid,gid}_map text: one line a range, written in one go."""
    return "".join(f"{c} {h} {n}\n" for c, h, n in maps).encode()


def write(pid: int, uid_maps, gid_maps) -> None:
    """Give process ``pid`` (just unshared CLONE_NEWUSER) its uid and gid maps.

    Raises:
        InvalidArgument: the helper is missing (naming the package) or refused the ranges
        (its message, which names /etc/subuid or /etc/subgid).
        OSError: the kernel refused a direct write.
    """
    if privileged() or _own_only(uid_maps, os.geteuid()) and _own_only(gid_maps, os.getegid()):
        if not privileged():
            with open(f"/proc/{pid}/setgroups", "w") as f:
                f.write("deny")
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            with open(f"/proc/{pid}/{name}", "wb", buffering=0) as f:
                f.write(text(maps))
        return
    for tool, maps in (("newuidmap", uid_maps), ("newgidmap", gid_maps)):
        helper(tool, pid, maps)


def _own_only(maps, own: int) -> bool:
    return len(maps) == 1 and maps[0][1] == own and maps[0][2] == 1


def helper(tool: str, pid: int, maps) -> None:
    """Run ``newuidmap``/``newgidmap`` on ``pid`` with ``maps``.

    Raises:
        InvalidArgument: the tool is missing, or its one-line complaint.
    """
    import shutil  # here: the shim and runtime import this module on every start

    path = shutil.which(tool) or next(
        (p for p in (f"/usr/bin/{tool}", f"/bin/{tool}") if os.path.exists(p)), None)
    if path is None:
        raise InvalidArgument(f"{tool} not found: install the uidmap package (it maps the "
                              f"subordinate ids of /etc/subuid and /etc/subgid)")
    argv = [path, str(pid)] + [str(v) for triple in maps for v in triple]
    import subprocess

    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise InvalidArgument(f"{tool} {pid} failed: {lines[-1] if lines else proc.returncode}")
