"""The shim's event loop, a supervised process's stdio, and attach connections.

Layer: runtime (3). May import: hako.runtime.shim_wire, hako.runtime.jsonlog (lean: only
C modules and ``os``/``time``).

One ``Proc`` exists for the container init and one per exec session. It owns the stdio
(pipes, or the pty master received over the console socket), fans output out to its
attach connections as Docker multiplexed frames, writes the init's output to the json log,
and feeds stdin from the attach connections that asked for it. Backpressure: while an
attach connection has more than ``HIGH_WATER`` bytes queued, output is not read (the
container blocks on a full pipe, as with Docker); while stdin has more than ``HIGH_WATER``
bytes queued, attach connections are not read.
"""

from __future__ import annotations

import os
import select
import time

from hako.runtime import shim_wire

IN, OUT = select.EPOLLIN, select.EPOLLOUT
HUP = select.EPOLLHUP | select.EPOLLERR
HIGH_WATER = 1 << 20
DRAIN_TIMEOUT = 5.0
HANGUP_RETRY = 0.1  # a hung-up pty master is watched again after this (conmon: 100 ms)


class Loop:
    """A minimal epoll loop with one callback per fd and one-shot timers."""

    def __init__(self) -> None:
        self.ep = select.epoll()
        self.handlers: dict = {}
        self.timers: list = []

    def add(self, fd: int, mask: int, cb) -> None:
        """Watch ``fd`` for ``mask`` events; ``cb(events)`` is called on readiness."""
        self.ep.register(fd, mask)
        self.handlers[fd] = cb

    def modify(self, fd: int, mask: int) -> None:
        """Change the events watched on ``fd``."""
        if fd in self.handlers:
            self.ep.modify(fd, mask)

    def remove(self, fd: int) -> None:
        """Stop watching ``fd`` (it may already be closed)."""
        if self.handlers.pop(fd, None) is not None:
            try:
                self.ep.unregister(fd)
            except (OSError, ValueError):
                pass

    def call_at(self, when: float, cb) -> None:
        """Run ``cb()`` once at monotonic time ``when``."""
        self.timers.append((when, cb))

    def run_once(self) -> None:
        """Wait for events or the next timer and dispatch them."""
        timeout = -1.0
        if self.timers:
            timeout = max(0.0, min(t for t, _ in self.timers) - time.monotonic())
        for fd, events in self.ep.poll(timeout):
            cb = self.handlers.get(fd)
            if cb is not None:
                cb(events)
        if self.timers:
            now = time.monotonic()
            due = [t for t in self.timers if t[0] <= now]
            self.timers = [t for t in self.timers if t[0] > now]
            for _, cb in due:
                cb()


class Attach:
    """One attach connection: frames out, raw stdin in, half-close is stdin EOF."""

    def __init__(self, proc: "Proc", sock, streams: set, stdin: bool, initial: bytes) -> None:
        self.proc, self.sock, self.streams = proc, sock, streams
        self.stdin = stdin and not proc.stdin_closed
        self.fd = sock.fileno()
        self.outbuf = bytearray()
        self.rd_eof = False
        self.closing = False
        sock.setblocking(False)
        proc.loop.add(self.fd, IN, self._on_event)
        proc.conns.append(self)
        if initial:
            self._received(initial)

    def _on_event(self, events: int) -> None:
        if events & OUT:
            self._flush()
        if events & IN and self.fd >= 0:
            self._read()
        elif events & HUP and self.fd >= 0 and not events & OUT:
            self.close()

    def _read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._received(data)
            return
        self.rd_eof = True
        if self.stdin and self.proc.stdin_once:
            self.proc.close_stdin()
        self.update()

    def _received(self, data: bytes) -> None:
        if self.stdin:
            self.proc.write_stdin(data)

    def send(self, stream: int, data: bytes) -> None:
        """Queue ``data`` as a frame of ``stream`` if this connection wants it."""
        if stream in self.streams and self.fd >= 0:
            self.outbuf += shim_wire.frame(stream, data)
            self._flush()

    def _flush(self) -> None:
        while self.outbuf:
            try:
                sent = self.sock.send(self.outbuf)
            except BlockingIOError:
                break
            except OSError:
                self.close()
                return
            del self.outbuf[:sent]
        if self.closing and not self.outbuf:
            self.close()
            return
        self.update()

    def update(self) -> None:
        """Recompute the epoll mask from the buffers' state."""
        if self.fd < 0:
            return
        mask = OUT if self.outbuf else 0
        if not self.rd_eof and not self.closing and len(self.proc.stdin_buf) < HIGH_WATER:
            mask |= IN
        self.proc.loop.modify(self.fd, mask)
        self.proc.update_outputs()

    def finish(self) -> None:
        """Close once everything queued has been sent."""
        self.closing = True
        self._flush()

    def close(self) -> None:
        """Drop the connection now."""
        if self.fd < 0:
            return
        self.proc.loop.remove(self.fd)
        self.sock.close()
        self.fd = -1
        if self in self.proc.conns:
            self.proc.conns.remove(self)
        if self.stdin and self.proc.stdin_once and not self.rd_eof:
            self.proc.close_stdin()
        self.proc.update_outputs()
        self.proc.on_conn_closed()


class Proc:
    """A supervised process (init or exec) with its stdio, attach connections and log."""

    def __init__(self, loop: Loop, name: str, state_dir: str, *, tty: bool, stdin: bool,
                 stdin_once: bool, log=None) -> None:
        self.loop, self.name, self.state_dir = loop, name, state_dir
        self.tty, self.stdin_once, self.log = tty, stdin_once, log
        self.pid = 0
        self.status = "created"
        self.exit_code: int | None = None
        self.exited_at = ""
        self.oom_killed = False
        self.outs: dict = {}
        self.master: int | None = None
        self.master_hup = False  # the slave is closed everywhere (a hangup): not watched
        self.stdin_fd: int | None = None
        self.stdin_buf = bytearray()
        self.stdin_closed = not stdin
        self.stdin_close_pending = False
        self.conns: list = []
        self.waiters: list = []
        self.finished = False
        self.paused = False
        self.on_finished = None
        self.on_idle = None
        self.on_exited = None  # called when the process is reaped, before its output drains

    # --- stdio setup -----------------------------------------------------------------

    def pipes(self) -> tuple[tuple[int, int, int], int, list]:
        """Create the stdio pipes.

        Returns:
            (stdio fds for the runtime, the stderr read end to capture during the runtime
            call, fds to close once the runtime has them).
        """
        if not self.stdin_closed:
            rin, self.stdin_fd = os.pipe()
            os.set_blocking(self.stdin_fd, False)
        else:
            rin = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        rout, wout = os.pipe()
        rerr, werr = os.pipe()
        self.outs = {rout: 1, rerr: 2}
        return (rin, wout, werr), rerr, [rin, wout, werr]

    def attach_console(self, master: int) -> None:
        """Use the pty master received from the runtime for all stdio."""
        os.set_blocking(master, False)
        self.master = master
        self.outs = {master: 1}

    def watch(self) -> None:
        """Start reading output (after the runtime call succeeded)."""
        for fd in self.outs:
            os.set_blocking(fd, False)
            self.loop.add(fd, IN, lambda ev, fd=fd: self._on_output(fd, ev))
        if self.stdin_buf or self.stdin_close_pending:
            self._flush_stdin()

    def close_stdio(self) -> None:
        """Close every stdio fd (failure paths)."""
        for fd in list(self.outs) + ([self.stdin_fd] if self.stdin_fd is not None else []):
            self.loop.remove(fd)
            _close(fd)
        self.outs, self.stdin_fd, self.master = {}, None, None

    # --- output ----------------------------------------------------------------------

    def _on_output(self, fd: int, events: int) -> None:
        if events & OUT and fd == self.master:
            self._flush_stdin()
        if not events & (IN | HUP) or (self.paused and not events & HUP):
            return
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty slave is closed everywhere
            data = b""
        if data:
            self.emit(self.outs[fd], data)
        elif fd == self.master and self.exit_code is None:
            self._master_hung_up()
        else:
            self._output_eof(fd)

    def _master_hung_up(self) -> None:
        """Every slave fd is closed but the process lives: a hangup (systemd's vhangup of
        /dev/console), not the end. Keep the master, so the slave can be opened again, and
        look again shortly (epoll would report the hangup without pause), as conmon does."""
        self.master_hup = True
        self.loop.remove(self.master)
        self.loop.call_at(time.monotonic() + HANGUP_RETRY, self._watch_master)

    def _watch_master(self) -> None:
        if not self.master_hup or self.master is None:
            return
        self.master_hup = False
        fd = self.master
        self.loop.add(fd, IN, lambda ev: self._on_output(fd, ev))
        self._set_mask(fd)

    def emit(self, stream: int, data: bytes) -> None:
        """Send output to the log and every attach connection."""
        if self.log is not None:
            self.log.write(stream, data)
        for conn in list(self.conns):
            conn.send(stream, data)

    def _output_eof(self, fd: int) -> None:
        stream = self.outs.pop(fd)
        self.loop.remove(fd)
        if self.log is not None:
            self.log.flush(stream)
        if fd == self.master:
            self.master = None
            self.stdin_closed = True
        _close(fd)
        self._maybe_finish()

    def update_outputs(self) -> None:
        """Pause or resume reading output according to the attach buffers."""
        paused = any(len(c.outbuf) > HIGH_WATER for c in self.conns)
        if paused != self.paused:
            self.paused = paused
            for fd in self.outs:
                self._set_mask(fd)

    def _set_mask(self, fd: int) -> None:
        mask = 0 if self.paused else IN
        if fd == self.master and self.stdin_buf:
            mask |= OUT
        self.loop.modify(fd, mask)

    # --- stdin -----------------------------------------------------------------------

    def _stdin_target(self) -> int | None:
        if self.master_hup:
            return None  # kept until the master is watched again
        return self.master if self.master is not None else self.stdin_fd

    def write_stdin(self, data: bytes) -> None:
        """Queue bytes for the process's stdin (dropped once stdin is closed)."""
        if self.stdin_closed or self.stdin_close_pending:
            return
        self.stdin_buf += data  # kept until the stdio exists when sent before an exec's start
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        fd = self._stdin_target()
        if fd is None:
            self._update_stdin_watch()
            return
        while self.stdin_buf:
            try:
                n = os.write(fd, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: the process closed its stdin
                self.stdin_buf.clear()
                self._close_stdin_now()
                break
            del self.stdin_buf[:n]
        if not self.stdin_buf and self.stdin_close_pending:
            self._close_stdin_now()
        self._update_stdin_watch()

    def _update_stdin_watch(self) -> None:
        if self.master is not None:
            self._set_mask(self.master)
        elif self.stdin_fd is not None:
            if self.stdin_buf and self.stdin_fd not in self.loop.handlers:
                self.loop.add(self.stdin_fd, OUT, lambda ev: self._flush_stdin())
            elif not self.stdin_buf:
                self.loop.remove(self.stdin_fd)
        for conn in self.conns:
            conn.update()

    def close_stdin(self) -> None:
        """Stdin EOF for the process (pipes only; a pty has no EOF without a hangup)."""
        if self.stdin_closed or self.tty:
            return
        self.stdin_close_pending = True
        self._flush_stdin()

    def _close_stdin_now(self) -> None:
        self.stdin_close_pending = False
        self.stdin_closed = True
        if self.stdin_fd is not None:
            self.loop.remove(self.stdin_fd)
            _close(self.stdin_fd)
            self.stdin_fd = None

    # --- exit ------------------------------------------------------------------------

    def on_exit(self, status: int) -> None:
        """Record the wait status; finish once the output is drained (or after a timeout).

        Args:
            status: the raw status from waitpid.
        """
        code = os.waitstatus_to_exitcode(status)
        self.exit_code = 128 - code if code < 0 else code
        self.exited_at = _rfc3339_now()
        self.status = "exited"
        if self.on_exited is not None:
            self.on_exited(self)
        self._watch_master()  # a hung-up master now reads its rest, then EOF
        self.loop.call_at(time.monotonic() + DRAIN_TIMEOUT, self._drain_timeout)
        self._maybe_finish()

    def _drain_timeout(self) -> None:
        if not self.finished:
            for fd in list(self.outs):
                self._output_eof(fd)

    def _maybe_finish(self) -> None:
        if self.finished or self.status != "exited" or self.outs:
            return
        self.finished = True
        if self.stdin_fd is not None:
            self._close_stdin_now()
        if self.log is not None:
            self.log.close()
        if self.on_finished is not None:
            self.on_finished(self)
        write_json_atomic(os.path.join(self.state_dir, "exit.json"), {
            "schema_version": 1, "exit_code": self.exit_code,
            "exited_at": self.exited_at, "oom_killed": self.oom_killed,
        })
        for sock in self.waiters:
            _reply_and_close(sock, self.state())
        self.waiters = []
        for conn in list(self.conns):
            conn.finish()
        self.on_conn_closed()

    def on_conn_closed(self) -> None:
        """Called when a connection goes away; reports idleness after the exit."""
        if self.finished and not self.conns and self.on_idle is not None:
            cb, self.on_idle = self.on_idle, None
            cb(self)

    def state(self) -> dict:
        """The ``state`` and ``wait`` reply: pid, status and exit code; once finished also
        ``exited_at`` and ``oom_killed``, so that a waiter has the whole exit record
        (the same as ``exit.json``) before the shim runs ``runtime delete`` and exits."""
        reply = {"pid": self.pid, "status": self.status, "exit_code": self.exit_code}
        if self.finished:
            reply["exited_at"], reply["oom_killed"] = self.exited_at, self.oom_killed
        return reply


def _reply_and_close(sock, obj: dict) -> None:
    try:
        sock.setblocking(True)
        sock.settimeout(5.0)
        sock.sendall(shim_wire.line(obj))
    except OSError:
        pass
    sock.close()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _rfc3339_now() -> str:
    from hako.runtime.jsonlog import format_time_ns

    return format_time_ns(time.time_ns())


def write_json_atomic(path: str, obj: dict) -> None:
    """Write ``obj`` as JSON: temp file in the same directory, rename (atomic for readers and
    across a kill -9; no fsync, as containerd's shim: shim.json and exit.json describe
    processes an OS crash ends anyway, and an fsync costs 1-30 ms on a disk-backed /run).

    Args:
        path: the destination.
        obj: a JSON-serialisable mapping.
    """
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, shim_wire.line(obj))
    finally:
        os.close(fd)
    os.replace(tmp, path)
