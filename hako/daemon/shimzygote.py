"""hakod's side of the shim zygote: start it, record it, notice it dying, start it again.

Layer: daemon (5). May import: hako.runtime (zygote, shimclient), support (atomicfile),
linux (proc).

    sup = Supervisor(exec_root); sup.start()   # in the event loop, at daemon start
    ...                                        # shimclient.spawn asks the zygote first
    sup.stop()                                 # at shutdown (a SIGKILLed hakod: the zygote
                                               # sees its pipe close and exits by itself)

hakod binds ``<exec-root>/zygote.sock`` and hands the listening fd to the zygote, so a
request sent while the zygote is still importing waits in the backlog; once the zygote is
gone nothing holds the socket and clients fall back at once (connection refused). The
zygote's pid and start time go to ``<exec-root>/zygote.json`` (written atomically) when it
starts. Its exit is noticed through a pidfd in the event loop; it is restarted after a
delay that grows (0.1 s doubling up to 10 s) while it keeps dying young.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

log = logging.getLogger(__name__)

_BOOT = "import sys; from hako.runtime.zygote import main; sys.exit(main())"
MIN_DELAY, MAX_DELAY, HEALTHY_AFTER = 0.1, 10.0, 5.0


def restart_delay(previous: float, lived: float) -> float:
    """The delay before the next start: short after a zygote that lived, doubled (up to
    ``MAX_DELAY``) after one that died within ``HEALTHY_AFTER`` seconds."""
    if lived >= HEALTHY_AFTER or previous <= 0:
        return MIN_DELAY
    return min(previous * 2, MAX_DELAY)


class Supervisor:
    """Keeps one shim zygote running for this daemon."""

    def __init__(self, exec_root: str, python: str = sys.executable) -> None:
        self.exec_root, self.python = exec_root, python
        self.socket_path = os.path.join(exec_root, "zygote.sock")
        self.record_path = os.path.join(exec_root, "zygote.json")
        self.proc = None
        self.restarts = 0
        self._pidfd = self._pipe_w = -1
        self._started_at = 0.0
        self._delay = 0.0
        self._stopping = False
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start the zygote (in the running event loop). A failure is logged: shims are then
        exec'd as without a zygote."""
        from hako.runtime import zygote

        self._stopping = False
        self._timer = None
        try:
            self._spawn()
        except OSError as exc:
            log.warning("shim zygote not started (%s): shims are exec'd", exc)
            zygote.set_socket_path(None)

    def _spawn(self) -> None:
        import socket
        import subprocess
        import time

        from hako.runtime import shimclient, zygote

        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        r, w = os.pipe()
        try:
            listener.bind(self.socket_path)
            listener.listen(128)
            env = shimclient.shim_env()
            self.proc = subprocess.Popen(
                [self.python, "-S", "-c", _BOOT, str(listener.fileno())], stdin=r,
                stdout=subprocess.DEVNULL, pass_fds=(listener.fileno(),), env=env, cwd="/",
                start_new_session=True)  # a ^C to a foreground hakod is not the zygote's
        except BaseException:
            os.close(w)
            raise
        finally:
            os.close(r)
            listener.close()
        self._pipe_w, self._started_at = w, time.monotonic()
        self._pidfd = os.pidfd_open(self.proc.pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._on_exit)
        self._record()
        zygote.set_socket_path(self.socket_path)
        log.debug("shim zygote %d started", self.proc.pid)

    def _record(self) -> None:
        from hako.linux import proc as linux_proc
        from hako.support import atomicfile

        atomicfile.write_json(self.record_path, {
            "pid": self.proc.pid, "start_time": linux_proc.start_time(self.proc.pid) or 0,
            "socket": self.socket_path})

    def _on_exit(self) -> None:
        import time

        from hako.runtime import zygote

        zygote.set_socket_path(None)
        self._close_watch()
        status = self.proc.wait()
        lived = time.monotonic() - self._started_at
        if self._stopping:
            return
        log.warning("shim zygote %d exited (status %s) after %.1fs; starting a new one",
                    self.proc.pid, status, lived)
        self._delay = restart_delay(self._delay, lived)
        self._schedule()

    def _schedule(self) -> None:
        if self._stopping:
            return
        self.restarts += 1
        delay = self._delay or MIN_DELAY
        self._timer = asyncio.get_running_loop().call_later(delay, self.start)

    def _close_watch(self) -> None:
        if self._pidfd >= 0:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        if self._pipe_w >= 0:
            os.close(self._pipe_w)
            self._pipe_w = -1

    def stop(self) -> None:
        """Stop the zygote (the shims it forked keep running: it holds no state, so
        it is killed rather than waited for) and remove its socket and record."""
        from hako.runtime import zygote

        self._stopping = True
        zygote.set_socket_path(None)
        if self._timer is not None:
            self._timer.cancel()
        self._close_watch()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for path in (self.socket_path, self.record_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
