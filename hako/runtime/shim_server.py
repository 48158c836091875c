"""The shim's supervisor: reaping, the request socket, and init/exec lifecycles.

Layer: runtime (3). May import: hako.runtime.shim_io, shim_runtime, shim_wire, jsonlog.

On-disk layout of the state dir (``STATE``)::

    shim.json            {"schema_version", "id", "pid", "shim_pid", "shim_start_time", ...}
    shim.sock            request socket of the container (ops below)
    init.pid             written by the runtime (--pid-file)
    exit.json            {"schema_version", "exit_code", "exited_at", "oom_killed"}
    execs/<E>/process.json, pid, shim.sock, exit.json   one dir per exec session

Requests are one JSON line per connection: attach, start, resize, state, wait, kill, and
(on the container socket only) exec and forget. Exec sessions are served by this same process
(it is the subreaper, so it reaps the exec'd processes too) on their own socket; ``forget``
drops a finished session (socket, state dir, record), as the daemon does after each health
probe, so that a container probed for months keeps only the sessions of probes under way.
"""

from __future__ import annotations

import _signal
import _socket
import os

from hako.runtime import shim_runtime, shim_wire
from hako.runtime.shim_io import IN, Attach, Loop, Proc, _reply_and_close

REQUEST_TIMEOUT = 5.0
SHUTDOWN_TIMEOUT = 5.0


class Shim:
    """Supervises one container: its init process and its exec sessions."""

    def __init__(self, opts: dict) -> None:
        self.opts = opts
        self.runtime = [opts["runtime"], "--root", opts["runtime_root"]]
        self.loop = Loop()
        self.procs_by_pid: dict = {}
        self.unclaimed: dict = {}
        self.listeners: dict = {}
        self.execs: dict = {}
        self.done = False
        self.init: Proc | None = None
        self.ignored_pids: set = set()  # the log's compression children (jsonlog)

    # --- process reaping -------------------------------------------------------------

    def install_reaper(self) -> None:
        """Route SIGCHLD through a wakeup pipe into the loop."""
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(w)
        _signal.signal(_signal.SIGCHLD, lambda *_: None)
        self.loop.add(r, IN, lambda ev: self._on_sigchld(r))

    def _on_sigchld(self, r: int) -> None:
        try:
            while os.read(r, 4096):
                pass
        except BlockingIOError:
            pass
        self.reap()

    def reap(self) -> None:
        """Collect every exited child; unknown pids are kept for a later exec registration."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.procs_by_pid.pop(pid, None)
            if pid in self.ignored_pids:
                self.ignored_pids.discard(pid)
            elif proc is not None:
                proc.on_exit(status)
            elif len(self.unclaimed) < 1024:
                self.unclaimed[pid] = status

    def track(self, proc: Proc, pid: int) -> None:
        """Associate a pid with a proc (and deliver an exit that was already reaped)."""
        proc.pid = pid
        status = self.unclaimed.pop(pid, None)
        if status is not None:
            proc.on_exit(status)
        else:
            self.procs_by_pid[pid] = proc

    # --- listening sockets -----------------------------------------------------------

    def listen(self, rel_path: str, proc: Proc, is_init: bool) -> None:
        """Serve requests for ``proc`` on a unix socket (path relative to the state dir)."""
        try:
            os.unlink(rel_path)
        except FileNotFoundError:
            pass
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.bind(rel_path)
        sock.listen(64)
        self.listeners[rel_path] = sock
        self.loop.add(sock.fileno(), IN, lambda ev: self._accept(sock, proc, is_init))

    def _accept(self, listener, proc: Proc, is_init: bool) -> None:
        try:
            fd, _ = listener._accept()
        except (BlockingIOError, InterruptedError):
            return
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
        try:
            req, rest = _read_request(conn)
        except (OSError, ValueError) as exc:
            _reply_and_close(conn, {"ok": False, "error": f"bad request: {exc}"})
            return
        self._dispatch(conn, req, rest, proc, is_init)

    def _dispatch(self, conn, req: dict, rest: bytes, proc: Proc, is_init: bool) -> None:
        op = req.get("op")
        if op == "attach":
            return self._attach(conn, req, rest, proc)
        if op == "wait" and not proc.finished:
            proc.waiters.append(conn)
            return
        handlers = {
            "start": self._start_init if is_init else self._start_exec,
            "state": lambda p, r: p.state(),
            "wait": lambda p, r: p.state(),
            "resize": self._resize,
            "kill": self._kill_init if is_init else self._kill_exec,
        }
        if is_init:
            handlers["exec"] = self._exec
            handlers["forget"] = self._forget_exec
        handler = handlers.get(op)
        if handler is None:
            reply = {"ok": False, "error": f"unknown op {op!r}"}
        else:
            try:
                reply = handler(proc, req)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                reply = {"ok": False, "error": str(exc)}
        _reply_and_close(conn, reply)

    def _attach(self, conn, req: dict, rest: bytes, proc: Proc) -> None:
        streams = {s for s, key in ((1, "stdout"), (2, "stderr")) if req.get(key)}
        if proc.finished:
            conn.close()
            return
        Attach(proc, conn, streams, bool(req.get("stdin")), rest)

    # --- ops -------------------------------------------------------------------------

    def _start_init(self, proc: Proc, req: dict) -> dict:
        if proc.status != "created":
            return {"ok": False, "error": f"container is {proc.status}"}
        call = shim_runtime.run(self.runtime + ["start", self.opts["id"]])
        if call.rc != 0:
            return {"ok": False, "error": call.error()}
        if proc.status == "created":
            proc.status = "running"
        return {"ok": True}

    def _resize(self, proc: Proc, req: dict) -> dict:
        if proc.master is None:
            return {"ok": False, "error": "the process has no tty"}
        import fcntl
        import termios

        size = int(req["height"]).to_bytes(2, "little") + int(req["width"]).to_bytes(2, "little")
        fcntl.ioctl(proc.master, termios.TIOCSWINSZ, size + bytes(4))
        return {"ok": True}

    def _kill_init(self, proc: Proc, req: dict) -> dict:
        call = shim_runtime.run(self.runtime + ["kill", self.opts["id"], str(req.get("signal", 15))])
        return {"ok": True} if call.rc == 0 else {"ok": False, "error": call.error()}

    def _kill_exec(self, proc: Proc, req: dict) -> dict:
        if proc.status != "running":
            return {"ok": False, "error": f"exec is {proc.status}"}
        os.kill(proc.pid, int(req.get("signal", 15)))
        return {"ok": True}

    def _exec(self, init: Proc, req: dict) -> dict:
        exec_id = str(req["exec_id"])
        if not exec_id or "/" in exec_id or exec_id.startswith(".") or exec_id in self.execs:
            return {"ok": False, "error": f"invalid or duplicate exec id {exec_id!r}"}
        if init.status != "running":
            return {"ok": False, "error": f"container is {init.status}"}
        rel = os.path.join("execs", exec_id)
        os.makedirs(rel, exist_ok=True)
        process = dict(req["process"])
        process["terminal"] = bool(req.get("tty"))
        with open(os.path.join(rel, "process.json"), "w") as f:
            f.write(shim_wire.dumps(process))
        proc = Proc(self.loop, exec_id, os.path.abspath(rel), tty=bool(req.get("tty")),
                    stdin=bool(req.get("stdin")), stdin_once=True)
        self.execs[exec_id] = proc
        self.listen(os.path.join(rel, "shim.sock"), proc, False)
        return {"ok": True}

    def _forget_exec(self, init: Proc, req: dict) -> dict:
        exec_id = str(req.get("exec_id") or "")
        proc = self.execs.get(exec_id)
        if proc is None:
            return {"ok": False, "error": f"no exec session {exec_id!r}"}
        if proc.status != "created" and not proc.finished:
            return {"ok": False, "error": f"exec {exec_id} is {proc.status}"}
        import shutil

        rel = os.path.join("execs", exec_id)
        listener = self.listeners.pop(os.path.join(rel, "shim.sock"), None)
        if listener is not None:
            self.loop.remove(listener.fileno())
            listener.close()
        for conn in list(proc.conns):
            conn.close()
        proc.close_stdio()
        del self.execs[exec_id]
        shutil.rmtree(rel, ignore_errors=True)
        return {"ok": True}

    def _start_exec(self, proc: Proc, req: dict) -> dict:
        if proc.status != "created" or proc.pid:
            return {"ok": False, "error": f"exec is {proc.status}"}
        proc.status = "starting"
        argv = self.runtime + ["exec", "--detach", "--process",
                               os.path.join(proc.state_dir, "process.json"),
                               "--pid-file", os.path.join(proc.state_dir, "pid")]
        try:
            call = self.run_with_stdio(proc, argv, self.opts["id"])
        except OSError:
            proc.status = "created"
            proc.close_stdio()
            raise
        if call.rc != 0:
            proc.status = "created"
            return {"ok": False, "error": call.error()}
        proc.status = "running"
        self.track(proc, _read_pid(os.path.join(proc.state_dir, "pid")))
        return {"ok": True}

    # --- runtime calls with stdio ------------------------------------------------------

    def run_with_stdio(self, proc: Proc, argv: list, ctr_id: str):
        """Run create/exec with the proc's stdio; on success start watching its output.

        Args:
            proc: the process whose stdio is created.
            argv: the runtime command line without the console socket and id.
            ctr_id: the container id (last argument).

        Returns:
            The shim_runtime.RuntimeCall.
        """
        if proc.tty:
            path = _console_path(proc.state_dir)
            console = shim_runtime.console_socket(path)
            try:
                call = shim_runtime.run(argv + ["--console-socket", path, ctr_id], console=console)
            finally:
                console.close()
                _unlink(path)
            if call.rc == 0 and call.console_fd is None:
                call.rc, call.output = 1, b"runtime did not send a console"
            if call.console_fd is not None:
                proc.attach_console(call.console_fd)
        else:
            stdio, capture, to_close = proc.pipes()
            try:
                call = shim_runtime.run(argv + [ctr_id], stdio=stdio, capture_fd=capture)
            finally:
                for fd in to_close:
                    os.close(fd)
        if call.rc != 0:
            proc.close_stdio()
            return call
        proc.watch()
        if call.output and proc.log is None:
            proc.emit(2, call.output)  # an exec's early stderr, captured while runc ran
        return call


def _read_request(conn) -> tuple[dict, bytes]:
    """Read the request line (blocking, bounded); returns it and any bytes after it."""
    conn.settimeout(REQUEST_TIMEOUT)
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("connection closed before the request line")
        buf += chunk
        if len(buf) > shim_wire.MAX_LINE:
            raise ValueError("request line too long")
    head, _, rest = buf.partition(b"\n")
    req = shim_wire.loads(head)
    if not isinstance(req, dict):
        raise ValueError("request is not an object")
    return req, rest


def _read_pid(path: str) -> int:
    with open(path, "rb") as f:
        return int(f.read().strip())


def _console_path(state_dir: str) -> str:
    path = os.path.join(state_dir, "console.sock")
    if len(path) < 100:
        return path
    return f"/tmp/hako-console-{os.getpid()}-{id(state_dir)}.sock"


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

