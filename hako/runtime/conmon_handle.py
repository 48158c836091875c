"""The daemon's handle on a conmon-monitored container and its exec sessions.

Layer: runtime (3). May import: errors, linux.proc, hako.runtime.conmon_spawn,
conmon_attach, shim_runtime, shim_wire, shimclient (runtime_exit_code), jsonlog.

``ConmonHandle`` and ``ConmonExecHandle`` offer the methods of ``shimclient.ShimHandle``
and ``ExecHandle`` that the daemon calls (attach, start, resize, kill, state, wait,
exit_status, pidfd, exec, forget_exec), translated to conmon's protocol (see
``conmon_spawn`` for the files). What the Python shim does itself, the handle does with
the runtime CLI: ``start`` and ``kill`` run ``runtime start|kill``; conmon runs
``runtime delete`` as its exit command.

Exec sessions live in this process only: a conmon per session, started at the session's
first ``attach`` or ``start``; they are forgotten with the daemon, as with the Python shim.
"""

from __future__ import annotations

import errno
import os
import time

from hako.errors import RuntimeFailed, Unavailable
from hako.runtime import conmon_spawn
from hako.runtime.conmon_spawn import RECORD

_WIN_RESIZE = 1  # conmon's ctl message type


def read_exit_status(state_dir: str, cid: str | None = None) -> dict | None:
    """The exit record conmon left in ``state_dir``, or None while the process runs.

    Args:
        state_dir: a container's or an exec session's state dir.
        cid: the container id naming the exit file (read from conmon.json when None).

    Returns:
        ``{"exit_code": int, "exited_at": str, "oom_killed": bool}`` or None.
    """
    from hako.runtime.jsonlog import format_time_ns

    if cid is None:
        record = _read_record(state_dir)
        if record is None:
            return None
        cid = str(record.get("id") or "")
    path = os.path.join(state_dir, "exits", cid)
    try:
        with open(path, "rb") as f:
            text = f.read().strip()
            mtime = os.fstat(f.fileno()).st_mtime_ns
        code = int(text)
    except (OSError, ValueError):
        return None
    oom = any(os.path.exists(os.path.join(state_dir, p)) for p in ("persist/oom", "oom"))
    return {"exit_code": code if code >= 0 else 255, "exited_at": format_time_ns(mtime),
            "oom_killed": oom}


def _read_record(state_dir: str) -> dict | None:
    from hako.runtime import shim_wire

    try:
        with open(os.path.join(state_dir, RECORD), "rb") as f:
            doc = shim_wire.loads(f.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write_ctl(state_dir: str, height: int, width: int) -> None:
    """A resize message on conmon's ctl FIFO (never blocks: conmon keeps it open)."""
    try:
        fd = os.open(os.path.join(state_dir, "ctl"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise Unavailable(f"conmon at {state_dir} is not reachable: {exc}") from exc
    try:
        os.write(fd, f"{_WIN_RESIZE} {int(height)} {int(width)}\n".encode())
    finally:
        os.close(fd)


def _runtime(argv: list[str], what: str) -> None:
    from hako.runtime import shim_runtime
    from hako.runtime.shimclient import runtime_exit_code

    call = shim_runtime.run(argv)
    if call.rc != 0:
        msg = call.error()
        raise RuntimeFailed(f"OCI runtime {what} failed: {msg}", runtime_exit_code(msg))


class _Session:
    """What container and exec handles share: state dir, attach, resize, exit record."""

    def __init__(self, state_dir: str, cid: str, tty: bool) -> None:
        self._state_dir = os.path.abspath(state_dir)
        self._cid = cid
        self._tty = tty

    @property
    def state_dir(self) -> str:
        """The state dir holding conmon's socket, FIFOs and exit files."""
        return self._state_dir

    def exit_status(self) -> dict | None:
        """The exit record, or None while the process has not exited."""
        return read_exit_status(self._state_dir, self._cid)

    def _attach_socket(self, stdin: bool, stdout: bool, stderr: bool):
        from hako.runtime import conmon_attach

        try:
            return conmon_attach.open_stream(os.path.join(self._state_dir, "attach"),
                                             stdin, stdout, stderr, self._await_exit)
        except OSError as exc:
            raise Unavailable(f"conmon at {self._state_dir} is not reachable: {exc}") from exc

    def _await_exit(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until conmon wrote the exit record or is gone."""
        deadline = time.monotonic() + timeout
        while self.exit_status() is None and time.monotonic() < deadline and self._monitor_alive():
            time.sleep(0.005)

    def resize(self, height: int, width: int) -> None:
        """Set the pty window size through conmon's ctl FIFO.

        Raises:
            RuntimeFailed: the process has no tty.
        """
        if not self._tty:
            raise RuntimeFailed("OCI runtime resize failed: the process has no tty", 128)
        _write_ctl(self._state_dir, height, width)

    def wait(self, timeout: float | None = None) -> dict:
        """Block until the exit record exists (polling); returns ``state``.

        Raises:
            Unavailable: timed out, or conmon is gone without an exit record.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.exit_status()) is None:
            if not self._monitor_alive() or (deadline is not None and time.monotonic() > deadline):
                raise Unavailable(f"conmon at {self._state_dir} is gone or did not finish")
            time.sleep(0.02)
        return {"pid": self.pid, "status": "exited", "exit_code": status["exit_code"]}

    def _monitor_alive(self) -> bool:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        raise NotImplementedError


class ConmonExecHandle(_Session):
    """An exec session monitored by its own conmon (``conmon --exec --exec-attach``)."""

    def __init__(self, parent: "ConmonHandle", exec_id: str, state_dir: str, tty: bool,
                 stdin: bool) -> None:
        super().__init__(state_dir, parent._cid, tty)
        self.exec_id = exec_id
        self._parent, self._stdin = parent, stdin
        self._launch: conmon_spawn.Launch | None = None
        self._pid = 0
        self._started = False

    @property
    def pid(self) -> int:
        """The exec'd process's host pid (0 before start)."""
        return self._pid

    def _ensure_launched(self) -> None:
        """Start the session's conmon; it waits on the start pipe before ``runtime exec``."""
        if self._launch is not None:
            return
        argv = conmon_spawn.exec_argv(
            conmon=conmon_spawn.conmon_binary(), id=self._cid, exec_id=self.exec_id,
            exec_dir=self._state_dir, runtime=self._parent.runtime[0],
            runtime_root=self._parent.runtime[2], tty=self._tty, stdin=self._stdin)
        for sub in ("exits", "persist"):
            os.makedirs(os.path.join(self._state_dir, sub), exist_ok=True)
        launch = conmon_spawn.Launch(argv, self._state_dir, start=True, attach=True)
        try:
            os.write(launch.start, b"0")  # conmon's first read, before it forks
            launch.detached()
            conmon_spawn.read_message(launch.attach)  # the attach socket listens
        except BaseException:
            launch.close()
            raise
        os.close(launch.attach)
        launch.attach = None
        self._launch = launch

    def attach(self, stdin: bool, stdout: bool, stderr: bool):
        """Open an attach stream (framed like the Python shim's; see ``conmon_attach``)."""
        self._ensure_launched()
        return self._attach_socket(stdin, stdout, stderr)

    def start(self) -> None:
        """Let conmon run ``runtime exec``; returns once the process runs.

        Raises:
            RuntimeFailed: the runtime refused (exit code as Docker records it).
        """
        if self._started:
            raise RuntimeFailed(f"OCI runtime start failed: exec {self.exec_id} was started", 128)
        self._ensure_launched()
        self._started = True
        launch = self._launch
        os.write(launch.start, b"1")
        try:
            self._pid = conmon_spawn.checked_pid(conmon_spawn.read_message(launch.sync))
        except RuntimeFailed as exc:
            raise RuntimeFailed(f"OCI runtime start failed: {exc}", exc.exit_code) from None
        finally:
            launch.close()  # the exit comes as a file: no pipe stays open per session

    def kill(self, signal: int) -> None:
        """Signal the exec'd process (while it runs)."""
        if not self._pid or self.exit_status() is not None:
            raise RuntimeFailed(f"OCI runtime kill failed: exec {self.exec_id} is not running", 128)
        os.kill(self._pid, int(signal))

    def state(self) -> dict:
        """``{"pid", "status": "created|running|exited", "exit_code"}``."""
        status = self.exit_status()
        if status is not None:
            return {"pid": self._pid, "status": "exited", "exit_code": status["exit_code"]}
        return {"pid": self._pid, "status": "running" if self._pid else "created", "exit_code": None}

    def _monitor_alive(self) -> bool:
        from hako.linux import proc as linux_proc

        try:
            with open(os.path.join(self._state_dir, "conmon.pid")) as f:
                return linux_proc.is_alive(int(f.read().strip()))
        except (OSError, ValueError):
            return False

    def busy(self) -> bool:
        """Whether the session's process runs (started and no exit record yet)."""
        return self._pid > 0 and self.exit_status() is None and self._monitor_alive()

    def close(self) -> None:
        """Drop the pipes. A conmon still waiting for its start is killed first: a closed
        start pipe would let it run the process (conmon reads EOF as the go-ahead)."""
        if self._launch is None:
            return
        if not self._started:
            from hako.linux import proc as linux_proc

            try:
                with open(os.path.join(self._state_dir, "conmon.pid")) as f:
                    pid = int(f.read().strip())
                if linux_proc.is_alive(pid):
                    os.kill(pid, 9)  # its runtime child dies with it (PDEATHSIG)
            except (OSError, ValueError):
                pass
        self._launch.close()


class ConmonHandle(_Session):
    """A container monitored by conmon: the daemon's handle on its process."""

    def __init__(self, state_dir: str, record: dict) -> None:
        super().__init__(state_dir, str(record["id"]), bool(record.get("tty")))
        self._pid = int(record["pid"])
        self._shim_pid = int(record["shim_pid"])
        self._start = int(record.get("shim_start_time") or 0)
        self.runtime = list(record["runtime"])
        self._execs: dict[str, ConmonExecHandle] = {}

    @classmethod
    def load(cls, state_dir: str) -> "ConmonHandle | None":
        """Find the conmon of a state dir again (e.g. after a daemon restart).

        Returns:
            The handle, or None if conmon is gone (pid dead or reused by another process).
        """
        from hako.linux import proc as linux_proc

        record = _read_record(state_dir)
        try:
            if record is None or not linux_proc.is_alive(int(record["shim_pid"]),
                                                         int(record["shim_start_time"])):
                return None
            return cls(state_dir, record)
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def pid(self) -> int:
        """The container init's host pid."""
        return self._pid

    @property
    def shim_pid(self) -> int:
        """conmon's pid."""
        return self._shim_pid

    def _monitor_alive(self) -> bool:
        from hako.linux import proc as linux_proc

        return linux_proc.is_alive(self._shim_pid, self._start)

    def pidfd(self) -> int:
        """A pidfd of conmon: readable once conmon exited (after its exit files and the
        runtime's delete).

        Raises:
            ProcessLookupError: conmon is already gone.
        """
        from hako.linux import proc as linux_proc

        fd = os.pidfd_open(self._shim_pid)
        if linux_proc.start_time(self._shim_pid) != self._start:
            os.close(fd)
            raise ProcessLookupError(f"conmon {self._shim_pid} is gone")
        return fd

    def open_wait(self) -> "InitExitWatch":
        """conmon has no wait request; its exit file comes before its exit command (the
        runtime's delete). The watch turns readable when the container's init (conmon's
        child) exits; its ``exit_record`` then waits for that file.

        Raises:
            OSError: the init is gone or its pid is no longer conmon's child (the daemon
                then follows ``pidfd`` alone).
        """
        from hako.linux import proc as linux_proc

        init = os.pidfd_open(self._pid)
        try:
            fields = linux_proc.read_stat(self._pid)  # after the open: the pidfd is pinned
            if fields is None or int(fields[3]) != self._shim_pid:
                raise OSError(errno.ESRCH, f"pid {self._pid} is not conmon's container init")
            return InitExitWatch(self, init)
        except BaseException:
            os.close(init)
            raise

    def attach(self, stdin: bool, stdout: bool, stderr: bool):
        """Open an attach stream on conmon's attach socket.

        Raises:
            Unavailable: conmon is gone.
        """
        return self._attach_socket(stdin, stdout, stderr)

    def start(self) -> None:
        """``runtime start``.

        Raises:
            RuntimeFailed: the runtime refused; exit_code as Docker would record it.
        """
        try:
            _runtime(self.runtime + ["start", self._cid], "start")
        except RuntimeFailed:
            # conmon runs `runtime delete` as soon as the init exits: a process that exits at
            # once can be deleted while `runtime start` is still finishing (runc then fails
            # removing its exec fifo). The exit file, written before that delete, says it ran.
            if self.exit_status() is None:
                raise

    def kill(self, signal: int) -> None:
        """``runtime kill ID SIG``."""
        _runtime(self.runtime + ["kill", self._cid, str(int(signal))], "kill")

    def state(self) -> dict:
        """``{"pid", "status": "created|running|exited", "exit_code"}`` (runtime state)."""
        status = self.exit_status()
        if status is not None:
            return {"pid": self._pid, "status": "exited", "exit_code": status["exit_code"]}
        if not self._monitor_alive():
            raise Unavailable(f"conmon at {self._state_dir} is gone and left no exit record")
        import subprocess

        from hako.runtime import shim_wire

        res = subprocess.run(self.runtime + ["state", self._cid], capture_output=True, check=False)
        try:
            st = str(shim_wire.loads(res.stdout).get("status"))
        except (ValueError, AttributeError):
            st = "running"
        return {"pid": self._pid, "status": "created" if st == "created" else "running",
                "exit_code": None}

    def exec(self, exec_id: str, process: dict, tty: bool, stdin: bool) -> ConmonExecHandle:
        """Prepare an exec session (its conmon starts at its first attach or start).

        Raises:
            RuntimeFailed: invalid or duplicate id, or the container is not running.
        """
        from hako.runtime.shim_io import write_json_atomic

        if not exec_id or "/" in exec_id or exec_id.startswith(".") or exec_id in self._execs:
            raise RuntimeFailed(f"OCI runtime exec failed: invalid or duplicate exec id {exec_id!r}", 128)
        if self.exit_status() is not None or not self._monitor_alive():
            raise RuntimeFailed("OCI runtime exec failed: container is exited", 128)
        exec_dir = os.path.join(self._state_dir, "execs", exec_id)
        os.makedirs(exec_dir, exist_ok=True)
        write_json_atomic(os.path.join(exec_dir, "process.json"), dict(process, terminal=bool(tty)))
        handle = ConmonExecHandle(self, exec_id, exec_dir, bool(tty), bool(stdin))
        self._execs[exec_id] = handle
        return handle

    def forget_exec(self, exec_id: str) -> None:
        """Drop a finished (or never started) exec session and its state dir.

        Raises:
            RuntimeFailed: the session is still running, or unknown.
        """
        import shutil

        handle = self._execs.get(exec_id)
        if handle is None:
            raise RuntimeFailed(f"OCI runtime forget failed: no exec session {exec_id!r}", 128)
        if handle.busy():
            raise RuntimeFailed(f"OCI runtime forget failed: exec {exec_id} is running", 128)
        handle.close()
        del self._execs[exec_id]
        shutil.rmtree(handle.state_dir, ignore_errors=True)


class InitExitWatch:
    """What ``ConmonHandle.open_wait`` returns: a pidfd of the container's init, readable
    once it has exited (a conmon killed first leaves it to the daemon's pidfd of conmon)."""

    def __init__(self, handle: ConmonHandle, init_fd: int) -> None:
        self._handle, self._fd = handle, init_fd

    def fileno(self) -> int:
        return self._fd

    def exit_record(self, timeout: float = 5.0) -> dict | None:
        """Once readable: the exit record, waiting (bounded) while conmon reaps the init,
        drains its output and writes the file; None when conmon is gone without one."""
        self._handle._await_exit(timeout)
        return self._handle.exit_status()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
