"""CgroupManager protocol and the small file helpers both drivers share.

Layer: runtime (3). May import: errors.

Lifecycle of a manager, as the runtime core drives it::

    mgr = new_manager("/hako/<id>", id)   # detect.py picks v1 or v2; nothing touched yet
    mgr.apply(pid)                         # create the cgroup dir(s), move pid in
    mgr.set(spec["linux"]["resources"])    # write limits (may be called again: docker update)
    mgr.freeze() / mgr.thaw()              # docker pause / unpause; wait for the kernel
    mgr.stats(), mgr.oom_kill_count()      # any time while the dirs exist
    mgr.destroy()                          # kill what is left, rmdir every created dir

``cgroups_path`` is cgroupfs style ("/hako/<id>"), relative to each hierarchy root.
``set`` takes the OCI ``linux.resources`` JSON dict unchanged. Requests the host cannot
honour but that Docker only warns about (swap limit without swap accounting, device rules on
v2) are skipped and their text is appended to ``mgr.warnings``.

``stats()`` returns a dict already keyed like the matching parts of Docker's /stats JSON
(``cpu_stats``, ``memory_stats``, ``pids_stats``, ``blkio_stats``); the daemon adds
``read``, ``precpu_stats``, ``system_cpu_usage`` and ``online_cpus``.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any, Callable, Protocol, runtime_checkable

from hako.errors import Internal, InvalidArgument

SWAP_WARNING = (
    "Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
    "Memory limited without swap."
)
DEVICES_V2_WARNING = "device cgroup rules are not supported on cgroup v2 (needs BPF): skipped"
DEFAULT_TIMEOUT = 10.0


class CgroupError(Internal):
    """A cgroup file could not be written or read, or the kernel did not settle in time."""


@runtime_checkable
class CgroupManager(Protocol):
    """One container's cgroup(s). See the module docstring for the lifecycle."""

    warnings: list[str]

    @property
    def path(self) -> str:
        """The cgroups path this manager owns ("/hako/<id>")."""
        ...

    def apply(self, pid: int) -> None:
        """Create the cgroup(s) and move ``pid`` in."""
        ...

    def set(self, resources: dict[str, Any]) -> None:
        """Write the OCI ``linux.resources`` dict to the control files."""
        ...

    def freeze(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Freeze every process and wait until the kernel reports frozen."""
        ...

    def thaw(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Thaw and wait until the kernel reports thawed."""
        ...

    def pids(self) -> list[int]:
        """Processes (thread-group ids) currently in the cgroup."""
        ...

    def destroy(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Kill remaining processes, wait until empty, rmdir every created dir."""
        ...

    def oom_kill_count(self) -> int:
        """How many processes the OOM killer killed in this cgroup."""
        ...

    def stats(self) -> dict[str, Any]:
        """Usage counters keyed like Docker's /stats JSON sections."""
        ...


# ---------------------------------------------------------------- conversions


def shares_to_weight(shares: int) -> int:
    """Convert v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000) like runc.

    Args:
        shares: cpu shares; 0 means unset.

    Returns:
        The weight, or 0 when ``shares`` is 0.
    """
    if not shares:
        return 0
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """Convert v1 blkio.weight (10..1000) to v2 io.weight (1..10000) like runc.

    Returns:
        The io weight, or 0 when ``weight`` is 0.
    """
    if not weight:
        return 0
    return 1 + (max(weight, 10) - 10) * 9999 // 990


# ---------------------------------------------------------------- file helpers


def refuse_unimplemented(resources: dict[str, Any]) -> None:
    """Fail on ``linux.resources`` sections no driver writes, instead of ignoring them.

    Raises:
        CgroupError: hugepage or rdma limits were asked for.
    """
    asked = [k for k in ("hugepageLimits", "rdma") if (resources or {}).get(k)]
    if asked:
        raise CgroupError(f"linux.resources.{', '.join(asked)} not supported by hako-runtime's "
                          "cgroup drivers: refusing to run without them")


def write_value(directory: str, name: str, value: Any) -> None:
    """Write ``value`` to the control file ``directory/name`` (no create, one write).

    Raises:
        InvalidArgument: the kernel rejected the value (EINVAL, ERANGE).
        CgroupError: any other failure.
    """
    path = os.path.join(directory, name)
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except FileNotFoundError:
        # cgroupfs cannot create files (O_CREAT fails there); plain dirs used as fake roots
        # in unit tests can, which lets the drivers run unchanged against them.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError:
            raise CgroupError(f"cgroup file {path} does not exist") from None
    try:
        os.write(fd, data)
    except OSError as exc:
        msg = f'failed to write "{value}": write {path}: {os.strerror(exc.errno or 0).lower()}'
        if exc.errno in (errno.EINVAL, errno.ERANGE):
            raise InvalidArgument(msg) from exc
        raise CgroupError(msg) from exc
    finally:
        os.close(fd)


def read_value(directory: str, name: str) -> str:
    """Read a control file and strip the trailing newline.

    Raises:
        CgroupError: the file cannot be read.
    """
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError as exc:
        raise CgroupError(f"read {path}: {exc.strerror}") from exc


def read_int(directory: str, name: str, default: int = 0) -> int:
    """Read an integer control file; "max" and a missing file give ``default``."""
    try:
        text = read_value(directory, name)
    except CgroupError:
        return default
    if not text or text == "max":
        return default
    try:
        return int(text.split()[0])
    except ValueError:
        return default


def read_keyed(directory: str, name: str) -> dict[str, int]:
    """Parse a flat keyed file ("key value" per line, e.g. memory.stat); missing → {}."""
    out: dict[str, int] = {}
    try:
        text = read_value(directory, name)
    except CgroupError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def read_procs(directory: str) -> list[int]:
    """Pids listed in ``directory/cgroup.procs``; a missing dir gives []."""
    try:
        with open(os.path.join(directory, "cgroup.procs"), encoding="ascii") as fh:
            return [int(line) for line in fh.read().split()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CgroupError(f"read {directory}/cgroup.procs: {exc.strerror}") from exc


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` with a short back-off until it is true or the deadline passes.

    Raises:
        CgroupError: the deadline passed (``what`` names what was awaited).
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not predicate():
        if time.monotonic() >= deadline:
            raise CgroupError(f"timeout after {timeout:g}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def rmdir_with_retry(directory: str, timeout: float) -> None:
    """rmdir a cgroup dir and the cgroups the container made below it (systemd in the
    container makes init.scope, system.slice/...), deepest first, as runc's RemovePath;
    EBUSY right after the last task exits is retried until the deadline.

    Raises:
        CgroupError: the directory is still busy at the deadline.
    """

    def attempt() -> bool:
        try:
            for sub, _dirs, _files in os.walk(directory, topdown=False):
                try:
                    os.rmdir(sub)
                except FileNotFoundError:
                    pass
        except OSError as exc:
            if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
                return False
            raise CgroupError(f"rmdir {directory}: {exc.strerror}") from exc
        return True

    wait_for(attempt, timeout, f"rmdir {directory}")


def own_cgroups(proc_file: str = "/proc/self/cgroup") -> dict[str, str]:
    """This process's cgroup per controller ("memory" → "/a/b"; "" for cgroup v2;
    ``name=systemd`` as "systemd"), without a trailing "/" (the root is "")."""
    out: dict[str, str] = {}
    try:
        with open(proc_file) as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2].rstrip("/")
        if not parts[1]:
            out[""] = path
        for ctl in parts[1].split(","):
            if ctl:
                out[ctl.removeprefix("name=")] = path
    return out


def normalize_path(cgroups_path: str) -> str:
    """Make a cgroups path absolute and reject escapes ("..").

    Raises:
        InvalidArgument: the path is relative-escaping or empty.
    """
    if not cgroups_path:
        raise InvalidArgument("cgroups path must not be empty")
    parts = [p for p in cgroups_path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise InvalidArgument(f"invalid cgroups path: {cgroups_path!r}")
    return "/" + "/".join(parts)
