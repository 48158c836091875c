"""The health-check runner: one asyncio task per running container that has a probe.

Lifecycle (driven by ``ContainerService``, as moby's monitor.go drives daemon/health.go)::

    start / policy restart / daemon restore of a running container
                  → init(c): Health reset to starting (streak 0, log kept), monitor started
    pause         → update(c): monitor stopped (a paused container is never probed)
    unpause       → update(c): monitor started again, the status kept
    exit          → stop(c): monitor stopped; Health stays as it was (inspect shows it)

The monitor sleeps ``health.next_interval`` and runs the probe, then applies the result
(``Health.record``), emits ``health_status: <status>`` when the status changed and writes the
container record (atomically, so the log of the last probes survives a daemon restart).

A probe runs like an exec (``exec_process`` gives its process: the container's user, working
dir and environment) through the container's shim, with exec_create / exec_start / exec_die
events as Docker emits them, but it is never an exec instance of the API (not listed, not
inspectable), and the shim forgets its session afterwards. Its stdout and stderr are read
from the shim's attach socket on the event loop (no thread waits on a probe); the timeout
counts from the start of the process; a probe past it is killed and gives exit code -1 and
``Health check exceeded timeout (…)``.

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from hako.daemon.health import (
    Health,
    HealthConfig,
    OutputBuffer,
    ProbeResult,
    next_interval,
    timeout_message,
)

log = logging.getLogger("hako.health")

KILL_GRACE = 10.0  # seconds to wait for a killed probe's exit (moby waits for it too)

Probe = Callable[[Any, HealthConfig], Awaitable[tuple[int, str]]]


class HealthMonitor:
    """Per-container probe tasks (an asyncio task each; no thread per container).

    Args:
        probe: ``await probe(c, cfg)`` → (exit code, output) of one run; an exception is a
            result with exit code -1 and the error's text, as moby.
        save: ``await save(c)`` writes the container record.
        emit: ``emit(c, action)`` publishes a container event.
        clock: epoch nanoseconds (injected by tests).
        sleep: ``await sleep(seconds)`` (injected by tests).
    """

    def __init__(self, probe: Probe, save: Callable[[Any], Awaitable[None]],
                 emit: Callable[..., None], clock: Callable[[], int] = time.time_ns,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.probe, self.save, self.emit = probe, save, emit
        self.clock, self.sleep = clock, sleep
        self._tasks: dict[str, asyncio.Task] = {}

    def running(self, cid: str) -> bool:
        """Whether a monitor runs for the container ``cid``."""
        return cid in self._tasks

    def init(self, c: Any) -> None:
        """A (re)started or re-adopted running container: Health starting, monitor on."""
        if HealthConfig.of(c.config) is None:
            return
        self.stop(c)
        if c.state.health is None:
            c.state.health = Health()
        else:
            c.state.health.reset()
        self.update(c)

    def update(self, c: Any) -> None:
        """Run the monitor while the container runs unpaused; stop it otherwise."""
        from hako.daemon.state import Status

        cfg = HealthConfig.of(c.config)
        if cfg is None or c.state.health is None or c.state.status != Status.RUNNING:
            self.stop(c)
        elif c.id not in self._tasks:
            task = asyncio.get_running_loop().create_task(self._monitor(c, cfg))
            self._tasks[c.id] = task
            task.add_done_callback(lambda t, cid=c.id: self._done(cid, t))

    def stop(self, c: Any) -> None:
        """Stop probing ``c`` (a probe under way is cancelled and its process killed)."""
        task = self._tasks.pop(c.id, None)
        if task is not None:
            task.cancel()

    def _done(self, cid: str, task: asyncio.Task) -> None:
        if self._tasks.get(cid) is task:
            del self._tasks[cid]
        if not task.cancelled() and task.exception() is not None:
            log.error("health monitor of %s failed: %r", cid[:12], task.exception())

    async def _monitor(self, c: Any, cfg: HealthConfig) -> None:
        from hako.runtime.jsonlog import parse_time_ns

        started = parse_time_ns(c.state.started_at)
        me = asyncio.current_task()
        while True:
            wait = next_interval(cfg, c.state.health.status, self.clock() - started)
            await self.sleep(wait / 1e9)
            start = self.clock()
            try:
                code, output = await self.probe(c, cfg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - moby records the error as the result
                log.warning("health check for container %s error: %s", c.id[:12], exc)
                code, output = -1, str(exc)
            if self._tasks.get(c.id) is not me or c.state.health is None:
                return  # stopped while the probe ran: the result is dropped, as moby
            result = ProbeResult(start, self.clock(), code, output)
            changed = c.state.health.record(result, cfg, started)
            if changed:
                self.emit(c, f"health_status: {changed}")
            await self.save(c)


def _frames(data: bytearray, out: OutputBuffer) -> None:
    """Move the complete attach frames (8-byte header, payload) of ``data`` into ``out``."""
    while len(data) >= 8:
        size = struct.unpack(">L", data[4:8])[0]
        if len(data) < 8 + size:
            return
        out.write(bytes(data[8:8 + size]))
        del data[:8 + size]


async def _collect(reader: asyncio.StreamReader, out: OutputBuffer) -> None:
    """Read the probe's stdout and stderr frames until the shim closes the stream."""
    pending = bytearray()
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        pending += chunk
        _frames(pending, out)


class ExecProbe:
    """Runs a probe in a container through its shim (the daemon's exec machinery)."""

    def __init__(self, containers: Any, emit: Callable[..., None]) -> None:
        self.containers, self.emit = containers, emit
        self._cleanups: set[asyncio.Task] = set()

    async def __call__(self, c: Any, cfg: HealthConfig) -> tuple[int, str]:
        """One run: (exit code, output); -1 and Docker's text after a timeout.

        Raises:
            Conflict: the container is not running. RuntimeFailed: the exec did not start.
        """
        from hako.support import ids

        eid = ids.new_id()
        handle = await self._prepare(c, cfg, eid)
        line = f"{cfg.argv[0]} {' '.join(cfg.argv[1:])}"
        self.emit(c, f"exec_create: {line}", execID=eid)
        sess = _Session(eid, handle)
        try:
            return await self._run(c, cfg, sess, line)
        finally:
            task = asyncio.get_running_loop().create_task(self._cleanup_quietly(c, sess))
            self._cleanups.add(task)
            task.add_done_callback(self._cleanups.discard)

    async def _prepare(self, c: Any, cfg: HealthConfig, eid: str) -> Any:
        from hako.daemon.exec import exec_process
        from hako.daemon.state import Status
        from hako.errors import Conflict, InvalidArgument

        if not cfg.argv:
            raise InvalidArgument("No exec command specified")
        loop = asyncio.get_running_loop()
        async with c.op_lock:  # as an exec: no start, stop or rm halfway through
            shim = self.containers.shim(c)
            if c.removed or c.state.status != Status.RUNNING or shim is None:
                raise Conflict(f"Container {c.id} is not running")
            proc = await loop.run_in_executor(
                None, exec_process, self.containers, c, {"Cmd": list(cfg.argv)})
            return await loop.run_in_executor(None, shim.exec, eid, proc, False, False)

    async def _run(self, c: Any, cfg: HealthConfig, sess: "_Session", line: str
                   ) -> tuple[int, str]:
        loop, eid, handle = asyncio.get_running_loop(), sess.eid, sess.handle
        sock = await loop.run_in_executor(None, handle.attach, False, True, True)
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        out = OutputBuffer()
        try:
            self.emit(c, f"exec_start: {line}", execID=eid)
            try:
                await loop.run_in_executor(None, handle.start)
            except Exception as exc:  # as the exec route words a failed exec start
                text = str(exc).replace("OCI runtime start failed", "OCI runtime exec failed")
                raise type(exc)(text + ": unknown") from None
            sess.started = True
            try:
                await asyncio.wait_for(_collect(reader, out), cfg.timeout / 1e9)
            except asyncio.TimeoutError:
                # as moby: KILL and report at once (the cleanup sees the exit and its event)
                await _kill(handle)
                return -1, timeout_message(cfg.timeout, out.text())
        finally:
            writer.close()
        status = await loop.run_in_executor(None, handle.exit_status)
        if status is None:
            raise RuntimeError(f"healthcheck for container {c.id} has no exit code")
        sess.reported = True
        self.emit(c, "exec_die", execID=eid, exitCode=str(status.get("exit_code")))
        return int(status.get("exit_code") or 0), out.text()

    async def _cleanup_quietly(self, c: Any, sess: "_Session") -> None:
        try:
            await self._cleanup(c, sess)
        except Exception as exc:  # noqa: BLE001 - e.g. the daemon is shutting down
            log.debug("cleaning up probe %s of %s: %s", sess.eid[:12], c.id[:12], exc)

    async def _cleanup(self, c: Any, sess: "_Session") -> None:
        """Drop the probe's session in the shim. A probe still running (cancelled, or past
        its timeout) is killed and given a moment to exit; its exec_die is emitted then."""
        from hako.daemon.state import Status

        loop = asyncio.get_running_loop()
        if (sess.reported or not sess.started) and await self._forget(c, sess.eid):
            return
        if not sess.reported:
            await _kill(sess.handle)
        deadline = time.monotonic() + KILL_GRACE
        while (status := await loop.run_in_executor(None, sess.handle.exit_status)) is None:
            if time.monotonic() > deadline or c.state.status != Status.RUNNING:
                return  # paused or stopping: the shim drops it with the container
            await asyncio.sleep(0.05)
        if not sess.reported:
            self.emit(c, "exec_die", execID=sess.eid, exitCode=str(status.get("exit_code")))
        if not await self._forget(c, sess.eid):
            log.debug("probe session %s of %s stays in its shim", sess.eid[:12], c.id[:12])

    async def _forget(self, c: Any, eid: str) -> bool:
        shim = self.containers.shim(c)
        if shim is None:
            return True  # the container exited: its shim and every session are gone
        try:
            await asyncio.get_running_loop().run_in_executor(None, shim.forget_exec, eid)
        except Exception:  # noqa: BLE001 - still running, or an older shim
            return False
        return True


@dataclass
class _Session:
    """One probe's exec session: started (the process ran), reported (exec_die emitted)."""

    eid: str
    handle: Any
    started: bool = False
    reported: bool = False


async def _kill(handle: Any) -> None:
    try:
        await asyncio.get_running_loop().run_in_executor(None, handle.kill, 9)
    except Exception as exc:  # noqa: BLE001 - it may have exited meanwhile
        log.debug("killing probe: %s", exc)
