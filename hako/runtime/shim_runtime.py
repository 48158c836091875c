"""Shim side of the OCI runtime CLI: spawning runc-compatible commands, console sockets, OOM.

Layer: runtime (3). May import: hako.runtime.shim_wire; hako.runtime.shim_inproc for hako's
own runtime (``OWN_RUNTIME``). The shim stays lean: no subprocess, socket, selectors or
signal packages; the C modules ``_socket`` and ``select`` are used directly.

The shim drives any runc-compatible runtime through its CLI only::

    BIN --root ROOT create --bundle B --pid-file P [--console-socket S] ID
    BIN --root ROOT start ID | kill ID SIG | delete --force ID
    BIN --root ROOT exec --detach --process F --pid-file P [--console-socket S] ID
"""

from __future__ import annotations

import _socket
import os
import select
import sys

CONSOLE_TIMEOUT = 30.0
_SOL_SOCKET = _socket.SOL_SOCKET
_SCM_RIGHTS = _socket.SCM_RIGHTS
_SIGDEF = (13, 17, 25)  # SIGPIPE, SIGCHLD, SIGXFSZ on Linux
OWN_RUNTIME = ""  # the shim's runtime when it is hako's own wrapper: forked or in-process


class RuntimeCall:
    """One runtime command run to completion, with its stderr captured.

    Attributes:
        rc: the exit code (negative: killed by that signal).
        output: the captured stderr bytes (and any bytes read from ``capture_fd``).
        console_fd: the pty master received on the console socket, or None.
    """

    def __init__(self, rc: int, output: bytes, console_fd: int | None) -> None:
        self.rc = rc
        self.output = output
        self.console_fd = console_fd

    def error(self) -> str:
        """The last meaningful line of the runtime's stderr (logrus ``msg=`` extracted)."""
        return last_error_line(self.output) or f"runtime exited with status {self.rc}"


def last_error_line(output: bytes) -> str:
    """Pick the runtime's error message out of its stderr.

    runc logs ``time="..." level=error msg="runc create failed: ..."``; the ``msg`` value
    is returned unquoted. Other runtimes' plain lines are returned as they are.

    Args:
        output: the runtime's stderr.

    Returns:
        The message, or "" when stderr had no non-blank line.
    """
    lines = [ln.strip() for ln in output.decode("utf-8", "replace").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "level=error" in ln or "level=fatal" in ln or not ln.startswith("time="):
            return _logrus_msg(ln)
    return _logrus_msg(lines[-1]) if lines else ""


def _logrus_msg(line: str) -> str:
    idx = line.find('msg="')
    if idx < 0:
        return line
    out, i = [], idx + 5
    while i < len(line) and line[i] != '"':
        if line[i] == "\\" and i + 1 < len(line):
            i += 1
        out.append(line[i])
        i += 1
    return "".join(out)


def run(
    argv: list[str],
    *,
    stdio: tuple[int, int, int] | None = None,
    capture_fd: int | None = None,
    console: "_socket.socket | None" = None,
) -> RuntimeCall:
    """Run a runtime command and wait for it, capturing its error output.

    Args:
        argv: the full command line; argv[0] is a path or a name looked up in PATH.
        stdio: fds for the command's stdin, stdout, stderr (default /dev/null, /dev/null
            and a capture pipe).
        capture_fd: a readable fd to drain while the command runs (the read end of the pipe
            given as its stderr when ``stdio`` is passed); its bytes land in ``output``.
        console: a listening unix socket on which the runtime sends the pty master.

    Returns:
        The RuntimeCall.

    Raises:
        OSError: the command cannot be spawned (e.g. the binary is missing).
    """
    if OWN_RUNTIME and argv[0] == OWN_RUNTIME and stdio is None and console is None:
        from hako.runtime import shim_inproc

        if shim_inproc.wants_in_process(argv[1:]):
            return RuntimeCall(*shim_inproc.in_process(argv[1:]), None)
    own = []
    if stdio is None:
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        r, w = os.pipe()
        own += [null, r, w]
        stdio, capture_fd = (null, null, w), r
    try:
        pid = _spawn(argv, stdio)
    finally:
        if own:
            os.close(own[0])
            os.close(own[2])
    try:
        return _wait(pid, capture_fd, console)
    finally:
        if own:
            os.close(own[1])


def _spawn(argv: list[str], stdio: tuple[int, int, int]) -> int:
    if OWN_RUNTIME and argv[0] == OWN_RUNTIME:
        from hako.runtime import shim_inproc

        return shim_inproc.fork_call(argv[1:], stdio)
    actions = [(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(stdio)]
    spawn = os.posix_spawn if "/" in argv[0] else os.posix_spawnp
    # Python ignores SIGPIPE and SIGXFSZ; ignored dispositions survive exec and would reach
    # the container's processes, so reset them (and SIGCHLD) to the default.
    return spawn(argv[0], argv, os.environ, file_actions=actions, setsigdef=_SIGDEF)


def _wait(pid: int, capture_fd: int | None, console) -> RuntimeCall:
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if capture_fd is not None:
        os.set_blocking(capture_fd, False)
        poller.register(capture_fd, select.POLLIN)
    if console is not None:
        poller.register(console.fileno(), select.POLLIN)
    out, console_fd, rc = bytearray(), None, None
    try:
        while rc is None:
            for fd, _ in poller.poll():
                if fd == pidfd:
                    rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                elif fd == capture_fd:
                    if not _drain(capture_fd, out):
                        poller.unregister(capture_fd)
                elif console is not None and console_fd is None:
                    console_fd = _recv_console(console)
                    poller.unregister(console.fileno())
        if capture_fd is not None:
            _drain(capture_fd, out)
        if console is not None and console_fd is None and rc == 0:
            console.settimeout(CONSOLE_TIMEOUT)
            console_fd = _recv_console(console)
    finally:
        os.close(pidfd)
    return RuntimeCall(rc, bytes(out), console_fd)


def _drain(fd: int, out: bytearray) -> bool:
    """Read what is available; False at EOF."""
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        out += data


def console_socket(path: str) -> "_socket.socket":
    """Create the listening unix socket passed to the runtime as ``--console-socket``."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    return sock


def _recv_console(listener) -> int | None:
    """Accept the runtime's connection and receive the pty master (runc's protocol)."""
    fd, _ = listener._accept()
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
    try:
        conn.settimeout(CONSOLE_TIMEOUT)
        _, anc, _, _ = conn.recvmsg(4096, _socket.CMSG_SPACE(4 * 4))
    finally:
        conn.close()
    fds = [
        int.from_bytes(data[i : i + 4], sys.byteorder)
        for level, kind, data in anc
        if level == _SOL_SOCKET and kind == _SCM_RIGHTS
        for i in range(0, len(data) - len(data) % 4, 4)
    ]
    for extra in fds[1:]:
        os.close(extra)
    return fds[0] if fds else None


def oom_killed(bundle: str) -> bool:
    """Whether the kernel OOM-killed a process of the container's cgroup.

    Reads ``linux.cgroupsPath`` from the bundle's config.json, then the v2
    ``memory.events`` or the v1 ``memory.oom_control`` ``oom_kill`` counter. Must run
    before the runtime deletes the cgroup.

    Args:
        bundle: the bundle directory.

    Returns:
        True when the counter is above zero; False when unknown.
    """
    from hako.runtime import shim_wire

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            spec = shim_wire.loads(f.read())
        path = (spec.get("linux") or {}).get("cgroupsPath") or ""
    except (OSError, ValueError, AttributeError):
        return False
    if not path or ":" in path:  # empty, or a systemd slice:prefix:name we cannot map
        return False
    path = path.lstrip("/")
    for file in (f"/sys/fs/cgroup/{path}/memory.events",
                 f"/sys/fs/cgroup/memory/{path}/memory.oom_control"):
        try:
            with open(file, "rb") as f:
                for ln in f.read().splitlines():
                    key, _, value = ln.partition(b" ")
                    if key == b"oom_kill":
                        return int(value) > 0
        except (OSError, ValueError):
            continue
    return False
