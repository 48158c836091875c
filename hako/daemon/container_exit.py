"""Container exits: the shim's exit is noticed, recorded and answered; policy restarts.

The ``ExitMixin`` half of ``ContainerService``: ``_watch`` turns the shim's pidfd into an
``_on_exit`` task, which records the exit (``exit.json``), unmounts, releases the network,
wakes ``wait`` clients and schedules the restart policy's next start or the ``--rm``
removal.

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from hako.daemon import netsetup
from hako.daemon import restart as restartpolicy
from hako.daemon.state import Container, Status, now_rfc3339
from hako.errors import InvalidArgument

log = logging.getLogger("hako.containers")


class ExitMixin:
    """Exit watching and recording, policy restarts, and ``wait``."""

    def _watch(self, c: Container, handle: Any) -> None:
        loop = self._loop or asyncio.get_event_loop()
        fd = handle.pidfd()

        def on_exit() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            task = loop.create_task(self._on_exit(c, handle))
            self._exit_tasks.add(task)
            task.add_done_callback(self._exit_tasks.discard)

        loop.add_reader(fd, on_exit)

    async def _on_exit(self, c: Container, handle: Any) -> None:
        from hako.daemon import bundle

        loop = asyncio.get_running_loop()
        status = await loop.run_in_executor(None, _wait_exit_status, handle)
        async with c.op_lock:
            if self._shims.get(c.id) is not handle:
                return  # not the run this watcher was for (already handled)
            self.health.stop(c)  # checks start again with the container
            c.state.exit_code = int(status.get("exit_code", 255))
            c.state.oom_killed = bool(status.get("oom_killed", False))
            c.state.finished_at = status.get("exited_at") or now_rfc3339()
            c.state.pid = 0
            c.state.shim_pid = 0
            c.state.manually_stopped = c.id in self._manual_stop
            restart = restartpolicy.should_restart(
                c.host_config.get("RestartPolicy"), c.state.exit_code,
                c.id in self._manual_stop or c.id in self._removing, c.restart_count)
            if c.state.status in (Status.RUNNING, Status.PAUSED, Status.RESTARTING):
                c.transition(Status.RESTARTING if restart else Status.EXITED)
            self._shims.pop(c.id, None)
            self._dying.discard(c.id)
            await loop.run_in_executor(None, bundle.unmount_rootfs, self, c)
            if not restart:
                await loop.run_in_executor(None, netsetup.release, self, c)
            await self._save(c)
            if c.state.oom_killed:
                self._emit(c, "oom")
            self._emit(c, "die", exitCode=str(c.state.exit_code))
            for fut in self._exit_waiters.pop(c.id, []):
                if not fut.done():
                    fut.set_result(c.state.exit_code)
            if restart:
                self._schedule_restart(c)
        if not restart and c.host_config.get("AutoRemove") and c.id not in self._removing:
            try:
                await self.remove(c.id, force=True, volumes=True)
            except Exception as exc:  # noqa: BLE001 - auto-remove is best effort
                log.warning("auto-remove of %s failed: %s", c.id[:12], exc)

    def _schedule_restart(self, c: Container) -> None:
        """Start ``c`` again after the policy's back-off delay (it is RESTARTING meanwhile)."""
        _, previous = self._restarts.pop(c.id, (None, 0.0))
        try:
            started = time.mktime(time.strptime(c.state.started_at[:19], "%Y-%m-%dT%H:%M:%S"))
            ran_for = time.mktime(time.gmtime()) - started
        except (ValueError, OverflowError):
            ran_for = 0.0
        delay = restartpolicy.next_delay(previous, ran_for)

        async def later() -> None:
            await asyncio.sleep(delay)
            if c.state.status != Status.RESTARTING:
                return
            c.restart_count += 1
            try:
                await self.start(c.id, by_policy=True)
            except Exception as exc:  # noqa: BLE001 - recorded on the container by start
                log.warning("restart of %s failed: %s", c.id[:12], exc)

        self._restarts[c.id] = (asyncio.get_running_loop().create_task(later()), delay)

    async def _cancel_restart(self, c: Container) -> bool:
        """Drop a pending policy restart (lock held); True when the container was RESTARTING
        between two runs (it is EXITED now)."""
        self._manual_stop.add(c.id)
        task, _ = self._restarts.pop(c.id, (None, 0.0))
        if task is not None:
            task.cancel()
        if c.state.status != Status.RESTARTING or c.state.pid:
            return False
        c.transition(Status.EXITED)
        await self._save(c)
        return True

    def _exit_future(self, c: Container) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._exit_waiters.setdefault(c.id, []).append(fut)
        return fut

    # -- wait ------------------------------------------------------------------------------
    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        """Block until the condition holds; return Docker's wait body.

        Raises:
            InvalidArgument: unknown condition.
        """
        c = self.get(ref)
        condition = condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: \"{condition}\"")
        if condition == "removed":
            fut = asyncio.get_running_loop().create_future()
            self._remove_waiters.setdefault(c.id, []).append(fut)
            await fut
        elif condition == "next-exit" or c.state.running:
            await self._exit_future(c)
        return {"StatusCode": c.state.exit_code, "Error": None}

    def wait_future(self, ref: str, condition: str) -> asyncio.Future | None:
        """Register a waiter now (so no exit is missed) and return its future, or None when
        the condition already holds."""
        c = self.get(ref)
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: \"{condition}\"")
        if condition == "removed":
            fut = asyncio.get_running_loop().create_future()
            self._remove_waiters.setdefault(c.id, []).append(fut)
            return fut
        if condition == "next-exit" or c.state.running:
            return self._exit_future(c)
        return None


def _wait_exit_status(handle: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = handle.exit_status()
        if status is not None or time.monotonic() > deadline:
            return status or {"exit_code": 255}
        time.sleep(0.01)
