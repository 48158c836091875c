"""Daemon side of the shim: spawn it, find it again after a restart, talk to its socket.

Layer: runtime (3). May import: errors, linux (proc), hako.runtime.shim_wire.

All functions block; the asyncio daemon calls them from a thread, or wraps the socket
returned by ``attach`` with ``asyncio.open_unix_connection(sock=...)``.

Lifecycle (see ``hako.runtime.shim`` for the shim's side and ``shim_server`` for the
state dir layout)::

    h = spawn(id=..., bundle=..., state_dir=..., runtime="runc", ...)   # container created
    s = h.attach(stdin=False, stdout=True, stderr=True)   # before start: nothing is lost
    h.start()                                            # container running
    fd = h.pidfd()   # readable when the shim exits, i.e. after exit.json is written
    h.exit_status()  # {"exit_code": 0, "exited_at": "...", "oom_killed": False}

After a daemon restart, ``ShimHandle.load(state_dir)`` returns a handle when the shim still
runs (pid and process start time checked), else None; ``read_exit_status(state_dir)``
then tells how the container ended.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from hako.errors import RuntimeFailed
from hako.runtime import shim_wire

_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = "import sys; from hako.runtime.shim import main; sys.exit(main())"
DEFAULT_TIMEOUT = 60.0


def runtime_exit_code(message: str) -> int:
    """Docker's exit code for a runtime failure message (127, 126 or 128)."""
    low = message.lower()
    if "executable file not found" in low or "no such file or directory" in low:
        return 127
    if "permission denied" in low:
        return 126
    return 128


def spawn(*, id: str, bundle: str, state_dir: str, runtime: str, runtime_root: str,
          log_file: str, tty: bool = False, stdin: bool = False, stdin_once: bool = False,
          python: str = sys.executable, timeout: float = DEFAULT_TIMEOUT) -> "ShimHandle":
    """Start a shim that creates the container (``runtime create``), and wait for its report.

    Args:
        id: the container id passed to the runtime.
        bundle: the OCI bundle directory (config.json + rootfs).
        state_dir: the shim's state dir (created if missing).
        runtime: the runtime binary (path or name in PATH).
        runtime_root: the runtime's ``--root``.
        log_file: the json-file log to append to.
        tty: allocate a pty through the runtime's console socket.
        stdin: keep a stdin pipe open for attach clients.
        stdin_once: close the container's stdin when the first stdin client half-closes.
        python: the interpreter that runs the shim.
        timeout: seconds to wait for the report.

    Returns:
        The handle of the created (not yet started) container.

    Raises:
        RuntimeFailed: the runtime or the shim failed; ``exit_code`` as Docker would record.
    """
    argv = [python, "-S", "-c", _BOOT, "create", "--id", id, "--bundle", bundle,
            "--state-dir", state_dir, "--runtime", runtime, "--runtime-root", runtime_root,
            "--log-file", log_file]
    argv += [flag for flag, on in (("--tty", tty), ("--stdin", stdin),
                                   ("--stdin-once", stdin_once)) if on]
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode halves the shim's start time
    env["PYTHONPATH"] = _PKG_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                             env=env, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeFailed(f"failed to start shim: {exc}", 128) from exc
    report = _parse_report(res.stdout, res.stderr)
    if not report.get("ok"):
        msg = str(report.get("error") or "unknown shim failure")
        raise RuntimeFailed(msg, runtime_exit_code(msg))
    handle = ShimHandle.load(state_dir)
    if handle is None:
        raise RuntimeFailed("shim exited right after creating the container", 128)
    return handle


def _parse_report(stdout: bytes, stderr: bytes) -> dict:
    for raw in reversed(stdout.decode("utf-8", "replace").splitlines()):
        try:
            obj = shim_wire.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    detail = (stderr or stdout).decode("utf-8", "replace").strip().splitlines()
    return {"ok": False, "error": "shim failed: " + (detail[-1] if detail else "no report")}


def read_exit_status(state_dir: str) -> dict | None:
    """The exit record of a container or exec state dir, or None while it has not exited.

    Returns:
        ``{"exit_code": int, "exited_at": str, "oom_killed": bool}`` or None.
    """
    try:
        with open(os.path.join(state_dir, "exit.json"), "rb") as f:
            doc = shim_wire.loads(f.read())
    except (OSError, ValueError):
        return None
    return {k: doc.get(k) for k in ("exit_code", "exited_at", "oom_killed")}


def connect(path: str, timeout: float | None = DEFAULT_TIMEOUT) -> socket.socket:
    """Connect to a shim socket, even when its path is longer than sun_path allows.

    Raises:
        OSError: nothing listens there.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        if len(path.encode()) < 100:
            sock.connect(path)
        else:  # go through the directory's fd: /proc/self/fd/N/name is short
            dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
            finally:
                os.close(dfd)
    except BaseException:
        sock.close()
        raise
    return sock


class _Endpoint:
    """Requests common to a container and an exec session (one socket each)."""

    def __init__(self, state_dir: str) -> None:
        self._state_dir = os.path.abspath(state_dir)
        self._sock_path = os.path.join(self._state_dir, "shim.sock")

    @property
    def state_dir(self) -> str:
        """The state dir holding shim.sock and exit.json."""
        return self._state_dir

    def request(self, op: dict, timeout: float | None = DEFAULT_TIMEOUT) -> dict:
        """Send one request and return the shim's reply.

        Args:
            op: the request object, e.g. ``{"op": "state"}``.
            timeout: seconds to wait for the reply (None: forever, for ``wait``).

        Returns:
            The reply object.

        Raises:
            Unavailable: the shim is gone or closed the connection without replying.
        """
        from hako.errors import Unavailable

        try:
            with connect(self._sock_path, timeout) as sock:
                sock.sendall(shim_wire.line(op))
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
        except OSError as exc:
            raise Unavailable(f"shim at {self._state_dir} is not reachable: {exc}") from exc
        if not buf.strip():
            raise Unavailable(f"shim at {self._state_dir} closed the connection")
        return shim_wire.loads(buf)

    def _checked(self, op: dict, what: str) -> dict:
        reply = self.request(op)
        if reply.get("ok") is False:
            msg = str(reply.get("error") or "unknown error")
            raise RuntimeFailed(f"OCI runtime {what} failed: {msg}", runtime_exit_code(msg))
        return reply

    def attach(self, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
        """Open an attach stream (request line already sent; frames follow).

        Write raw stdin to the socket; ``shutdown(SHUT_WR)`` is stdin EOF. The shim closes
        the connection after the process exited and all output was sent.

        Raises:
            Unavailable: the shim is gone.
        """
        from hako.errors import Unavailable

        try:
            sock = connect(self._sock_path, None)
            sock.sendall(shim_wire.line({"op": "attach", "stdin": stdin,
                                         "stdout": stdout, "stderr": stderr}))
        except OSError as exc:
            raise Unavailable(f"shim at {self._state_dir} is not reachable: {exc}") from exc
        return sock

    def start(self) -> None:
        """Start the process (``runtime start`` / ``runtime exec --detach``).

        Raises:
            RuntimeFailed: the runtime refused; exit_code as Docker would record it.
        """
        self._checked({"op": "start"}, "start")

    def resize(self, height: int, width: int) -> None:
        """Set the pty window size.

        Raises:
            RuntimeFailed: the process has no tty.
        """
        self._checked({"op": "resize", "height": int(height), "width": int(width)}, "resize")

    def kill(self, signal: int) -> None:
        """Send a signal (the container through ``runtime kill``; an exec directly)."""
        self._checked({"op": "kill", "signal": int(signal)}, "kill")

    def state(self) -> dict:
        """``{"pid": N, "status": "created|running|exited", "exit_code": ...}``.

        Raises:
            Unavailable: the shim is gone and left no exit record.
        """
        return self._request_or_exited({"op": "state"}, DEFAULT_TIMEOUT)

    def wait(self, timeout: float | None = None) -> dict:
        """Block until the process exited and its output was drained; returns ``state``.

        Raises:
            Unavailable: the shim is gone and left no exit record.
        """
        return self._request_or_exited({"op": "wait"}, timeout)

    def _request_or_exited(self, op: dict, timeout: float | None) -> dict:
        from hako.errors import Unavailable

        try:
            return self.request(op, timeout)
        except Unavailable:
            status = self.exit_status()
            if status is None:
                raise
            return {"pid": self._last_pid(), "status": "exited", "exit_code": status["exit_code"]}

    def _last_pid(self) -> int:
        return 0

    def exit_status(self) -> dict | None:
        """The exit record (exit.json), or None while the process has not exited."""
        return read_exit_status(self._state_dir)


class ExecHandle(_Endpoint):
    """An exec session inside a container, served by the container's shim."""

    def __init__(self, state_dir: str, exec_id: str) -> None:
        super().__init__(state_dir)
        self.exec_id = exec_id

    @property
    def pid(self) -> int:
        """The exec'd process's host pid (0 before start)."""
        return int(self.state().get("pid") or 0)


class ShimHandle(_Endpoint):
    """A container's shim: the daemon's handle on the container's process."""

    def __init__(self, state_dir: str, pid: int, shim_pid: int, shim_start_time: int) -> None:
        super().__init__(state_dir)
        self._pid, self._shim_pid, self._start = pid, shim_pid, shim_start_time

    @classmethod
    def load(cls, state_dir: str) -> "ShimHandle | None":
        """Find the shim of a state dir again (e.g. after a daemon restart).

        Returns:
            The handle, or None if the shim is gone (pid dead or reused by another process).
        """
        from hako.linux import proc as linux_proc

        try:
            with open(os.path.join(state_dir, "shim.json"), "rb") as f:
                doc = shim_wire.loads(f.read())
            pid, shim_pid, start = int(doc["pid"]), int(doc["shim_pid"]), int(doc["shim_start_time"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not linux_proc.is_alive(shim_pid, start):
            return None
        return cls(state_dir, pid, shim_pid, start)

    @property
    def pid(self) -> int:
        """The container init's host pid."""
        return self._pid

    def _last_pid(self) -> int:
        return self._pid

    @property
    def shim_pid(self) -> int:
        """The shim's pid."""
        return self._shim_pid

    def pidfd(self) -> int:
        """A pidfd of the shim: it becomes readable when the shim exits.

        Returns:
            The fd (the caller closes it).

        Raises:
            ProcessLookupError: the shim is already gone.
        """
        from hako.linux import proc as linux_proc

        fd = os.pidfd_open(self._shim_pid)
        if linux_proc.start_time(self._shim_pid) != self._start:
            os.close(fd)
            raise ProcessLookupError(f"shim {self._shim_pid} is gone")
        return fd

    def exec(self, exec_id: str, process: dict, tty: bool, stdin: bool) -> ExecHandle:
        """Prepare an exec session (started later with ``ExecHandle.start``).

        Args:
            exec_id: a unique id (a path component) for the session.
            process: the OCI process object (args, env, cwd, user, ...).
            tty: give the process a pty.
            stdin: keep a stdin pipe for attach clients (closed at the first half-close).

        Returns:
            The exec session's handle.

        Raises:
            RuntimeFailed: the shim refused (container not running, duplicate id).
        """
        self._checked({"op": "exec", "exec_id": exec_id, "process": process,
                       "tty": bool(tty), "stdin": bool(stdin)}, "exec")
        return ExecHandle(os.path.join(self.state_dir, "execs", exec_id), exec_id)
