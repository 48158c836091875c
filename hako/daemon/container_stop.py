"""Signals to containers: kill, stop (signal, grace period, SIGKILL), restart.

The ``StopMixin`` half of ``ContainerService``, and ``parse_signal`` (Docker's signal names).

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal as signals

from hako.daemon.state import Container, Status
from hako.errors import Conflict, ContainerNotFound, InvalidArgument, NotModified

log = logging.getLogger("hako.containers")


def parse_signal(value: str | int | None, default: int = signals.SIGKILL) -> int:
    """Signal name (with or without SIG) or number → number.

    Raises:
        InvalidArgument: ``Invalid signal: X``.
    """
    if value in (None, ""):
        return default
    text = str(value).strip().upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < 65:
            return num
        raise InvalidArgument(f"Invalid signal: {value}")
    name = text if text.startswith("SIG") else "SIG" + text
    m = re.fullmatch(r"SIGRT(MIN|MAX)([+-]\d+)?", name)
    if m:  # moby's signal table: RTMIN+n, RTMAX-n
        num = (signals.SIGRTMIN if m.group(1) == "MIN" else signals.SIGRTMAX) + int(m.group(2) or 0)
        if signals.SIGRTMIN <= num <= signals.SIGRTMAX:
            return int(num)
        raise InvalidArgument(f"Invalid signal: {value}")
    try:
        return int(getattr(signals.Signals, name))
    except AttributeError:
        raise InvalidArgument(f"Invalid signal: {value}") from None


class StopMixin:
    """kill, stop, restart, and the daemon's own stop at shutdown."""

    # -- stop / kill -----------------------------------------------------------------------
    async def kill(self, ref: str, signal: str | int | None = None) -> None:
        """Send a signal (default SIGKILL) to the container's init.

        Raises:
            Conflict: the container is not running.
        """
        sig = parse_signal(signal)  # Docker checks the signal before the container
        c, lock = await self._locked(ref)
        waiter = None
        try:
            if c.state.status == Status.RESTARTING and not c.state.pid:
                # between two runs: as moby, whose kill finds no task and the container
                # ends up stopped, the pending policy restart is dropped
                await self._cancel_restart(c)
                self._emit(c, "kill", signal=str(sig))
                return
            if not c.state.running or not c.state.pid or c.id in self._removing:
                raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
            self._manual_stop.add(c.id)
            waiter = self._exit_future(c) if sig == signals.SIGKILL else None
            await self._kill_locked(c, sig)
            self._emit(c, "kill", signal=str(sig))
        finally:
            lock.release()
        if waiter is not None:  # Docker's Kill: SIGKILL, then wait until it is not running
            try:
                await asyncio.wait_for(waiter, 10)
            except asyncio.TimeoutError:
                log.warning("container %s did not exit 10s after SIGKILL", c.id[:12])

    async def _kill_locked(self, c: Container, sig: int, stop_signal: bool = False) -> None:
        """Signal the init (lock held). Like moby's killWithSignal, a paused container is
        resumed after a SIGKILL or its stop signal, so that the signal is delivered (a frozen
        task does not die); a failed resume is only a warning."""
        self._signal(c, sig)
        if sig == signals.SIGKILL:
            self._dying.add(c.id)  # no pause may freeze it before its exit is processed
        if c.state.status == Status.PAUSED and (sig == signals.SIGKILL or stop_signal):
            try:
                await self._runtime(c, "resume")
            except Exception as exc:  # noqa: BLE001 - as moby: warn, the exit will follow
                log.warning("cannot unpause container %s: %s", c.id[:12], exc)
            else:
                c.transition(Status.RUNNING)
                self._emit(c, "unpause")

    def _signal(self, c: Container, sig: int) -> None:
        if not c.state.pid:
            return
        try:
            os.kill(c.state.pid, sig)
        except ProcessLookupError:
            pass

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        """Stop signal, wait ``timeout`` seconds, then SIGKILL.

        Raises:
            NotModified: the container is not running.
        """
        c = self.get(ref)
        await self._stop(c, timeout, signal, ref=ref)
        # answered once its ports and address are released (at most 10 s), as moby's cleanup
        # follows the exit at once: compose's recreate starts the new container right after
        async with self.settled(c, timeout=10.0):
            pass
        self._emit(c, "stop")

    async def _stop(self, c: Container, timeout: int | None, signal: str | None = None,
                    ref: str | None = None) -> None:
        """Signal, wait, SIGKILL, wait. With ``ref`` (the API's stop) a container that is
        not running is NotModified; the lock is never held while waiting for the exit."""
        async with c.op_lock:
            if c.removed:
                raise ContainerNotFound(f"No such container: {ref or c.id}")
            if ref is not None and not c.state.running:
                raise NotModified("container already stopped")
            if await self._cancel_restart(c) or not c.state.running:
                return
            sig = parse_signal(signal or c.config.get("StopSignal") or "SIGTERM")
            if timeout is None:
                timeout = c.config.get("StopTimeout")
                timeout = 10 if timeout is None else int(timeout)
            waiter = self._exit_future(c)
            pid = c.state.pid
            await self._kill_locked(c, sig, stop_signal=True)
        if timeout >= 0:
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
                return
            except asyncio.TimeoutError:
                pass
            async with c.op_lock:
                if c.state.running and c.state.pid == pid:
                    await self._kill_locked(c, signals.SIGKILL)
        await waiter

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        """Stop (when running) then start, like moby's containerRestart: each half takes
        the lock on its own, so a concurrent start makes this one NotModified."""
        c = self.get(ref)
        if c.state.running:
            self._restarting.add(c.id)  # the exit this stop causes does not auto-remove
            try:
                await self._stop(c, timeout)
            except BaseException:
                self._restarting.discard(c.id)
                raise
        try:
            await self.start(c.id)  # waits for the stopped run's exit handling first
        finally:
            self._restarting.discard(c.id)
        self._emit(c, "restart")

    # -- the daemon's own stop (``liverestore.shutdown``) ------------------------------------
    async def stop_at_shutdown(self, c: Container) -> None:
        """Stop ``c`` as ``docker stop`` would (a paused one is unpaused first), as the
        daemon's stop rather than the user's: its restart policy still applies when hakod
        starts again. Failures are logged, never raised (one container stops no other)."""
        was_manual = c.id in self._manual_stop
        try:
            if c.state.status == Status.PAUSED:
                await self.unpause(c.id)
            await self._stop(c, None)
        except Exception as exc:  # noqa: BLE001 - shutting down: report and go on
            log.warning("stopping %s at shutdown: %s", c.id[:12], exc)
        if not was_manual:
            self._not_manual(c)

    async def kill_at_shutdown(self, c: Container) -> None:
        """After ``--shutdown-timeout``: SIGKILL ``c`` if it still runs (again not a manual
        kill), then write its record."""
        if c.state.running and c.state.pid:
            try:
                await self.kill(c.id, "SIGKILL")
            except Exception as exc:  # noqa: BLE001 - shutting down: report and go on
                log.warning("killing %s at shutdown: %s", c.id[:12], exc)
            self._not_manual(c)
        await self._save(c)

    def _not_manual(self, c: Container) -> None:
        self._manual_stop.discard(c.id)
        c.state.manually_stopped = False
