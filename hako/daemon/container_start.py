"""Container start: the shim is spawned and told to start; a failed start is recorded.

The ``StartMixin`` half of ``ContainerService`` (see ``containers.py`` for the lifecycle and
the locking rules).

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hako.daemon import netsetup
from hako.daemon.state import Container, Status, now_rfc3339
from hako.errors import Conflict, InvalidArgument, NotModified

log = logging.getLogger("hako.containers")


class StartMixin:
    """start, and the record of a failed start."""

    async def start(self, ref: str, by_policy: bool = False) -> None:
        """Start a created or exited container (``by_policy``: a restarting one).

        Raises:
            NotModified: already running. Conflict: paused, or being removed.
            RuntimeFailed: the runtime refused.
        """
        while True:
            c, lock = await self._locked(ref)
            if c.id not in self._exiting:
                break
            lock.release()  # the last run's shim is still deleting the runtime's state
            await self._shim_gone(c)
        try:
            failure = await self._start_locked(c, by_policy)
        finally:
            lock.release()
        if failure is not None:
            if c.host_config.get("AutoRemove") and c.id not in self._removing:
                try:
                    await self.remove(c.id, force=True)
                except Exception as exc:  # noqa: BLE001 - auto-remove is best effort
                    log.warning("auto-remove of %s failed: %s", c.id[:12], exc)
            raise failure

    async def _start_locked(self, c: Container, by_policy: bool) -> Exception | None:
        """The start itself, under the container's lock. Returns the error to raise after
        the lock is released (a failed start), None when the container runs."""
        from hako.daemon import bundle

        if by_policy and c.state.status != Status.RESTARTING:
            return None  # stopped, killed or removed while the restart was pending
        if c.state.status == Status.PAUSED:
            raise Conflict("cannot start a paused container, try unpause instead")
        if c.state.running and not by_policy:
            raise NotModified("container already started")
        if c.state.status in (Status.REMOVING, Status.DEAD) or c.id in self._removing:
            raise Conflict("container is marked for removal and cannot be started")
        if not by_policy:
            self._manual_stop.discard(c.id)
            c.state.manually_stopped = False
        loop = asyncio.get_running_loop()
        self._loop = loop
        try:  # the sandbox, then the rootfs, bundle and shim: one executor call
            handle = await loop.run_in_executor(None, _prepare_and_spawn, self, c)
        except _NetworkFailed as failed:
            await self._start_failed(c, failed.error)
            return failed.error
        except Exception as exc:
            await self._start_failed(c, exc)
            return _start_error(exc)
        self._shims[c.id] = handle
        watch = self._open_watch(handle)  # before the start: no exit can be missed
        for attach in self._pending_attach.pop(c.id, []):
            await attach.connect(handle)
        try:
            await loop.run_in_executor(None, handle.start)
        except Exception as exc:
            self._close_watch(watch)
            self._shims.pop(c.id, None)
            await loop.run_in_executor(None, bundle.stop_stale_shim, self, c)
            await self._start_failed(c, exc)
            return _start_error(exc)
        c.transition(Status.RUNNING)
        self._dying.discard(c.id)
        c.state.pid = handle.pid
        c.state.shim_pid = handle.shim_pid
        c.state.started_at = now_rfc3339()
        c.state.exit_code = 0
        c.state.error = ""
        c.state.oom_killed = False
        self.health.init(c)
        await self._save(c)
        self._watch(c, handle, watch)
        self._emit(c, "start")
        return None

    async def _start_failed(self, c: Container, exc: Exception) -> None:
        """Record a failed start like Docker: exit code and error; wake attaches and waiters
        (the caller holds the lock; auto-remove happens after it is released)."""
        from hako.daemon import bundle

        c.state.exit_code = getattr(exc, "exit_code", 128)
        c.state.error = str(exc)
        if c.state.status == Status.RESTARTING:
            c.transition(Status.EXITED)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, netsetup.release, self, c)
        await self._save(c)
        await loop.run_in_executor(None, bundle.unmount_rootfs, self, c)
        for attach in self._pending_attach.pop(c.id, []):
            if not attach.done.done():
                attach.done.set_result(None)
        for fut in self._exit_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(c.state.exit_code)



class _NetworkFailed(Exception):
    """The network sandbox could not be made (its error is raised as it is, not as the
    runtime's)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _prepare_and_spawn(svc: Any, c: Container) -> Any:
    """The network sandbox, then the shim (blocking). Raises _NetworkFailed for the first."""
    from hako.daemon import bundle

    try:
        netns, net_host = netsetup.prepare(svc, c)
    except Exception as exc:
        raise _NetworkFailed(exc) from None
    return bundle.start_shim(svc, c, netns, net_host)


def _start_error(exc: Exception) -> Exception:
    """Docker's translateContainerdStartErr: bad commands are the caller's fault (400)."""
    code = getattr(exc, "exit_code", None)
    text = f"OCI runtime create failed: {exc}: unknown"
    if code in (126, 127):
        return InvalidArgument(text)
    from hako.errors import Internal

    return Internal(text) if code is not None else exc

