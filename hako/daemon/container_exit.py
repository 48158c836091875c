"""Container exits: the shim's exit is noticed, recorded and answered; policy restarts.

The ``ExitMixin`` half of ``ContainerService``. An exit is handled in two steps:

1. the shim answers the daemon's ``wait`` request once the init has exited and its output
   is drained (the reply carries the exit record; exit.json is already written):
   ``_record_exit`` sets the status (exited, or restarting for the restart policy), emits
   ``die`` and answers ``wait`` clients, ``docker stop`` and ``kill``;
2. the shim's pidfd becomes readable when it has also run ``runtime delete`` and exited:
   ``_on_shim_exit`` unmounts the rootfs, releases the network, writes the record (one
   fsync per exit, as before; none with ``--rm``, whose removal writes it), and only then schedules
   the policy's restart or the ``--rm`` removal. Between the two, ``_exiting[id]`` is an
   unresolved future: ``start`` and ``remove`` wait for it (``_shim_gone``), so that no new
   run or removal of the same id races the runtime's delete.

When no wait reply comes (a shim that is gone, or past its sockets), step 2 does both.

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from hako.daemon import netsetup
from hako.daemon import restart as restartpolicy
from hako.daemon.state import Container, Status, now_rfc3339
from hako.errors import InvalidArgument

log = logging.getLogger("hako.containers")


class ExitMixin:
    """Exit watching and recording, policy restarts, and ``wait``."""

    def _open_watch(self, handle: Any) -> tuple[int, Any] | None:
        """The shim's pidfd and a connection with a ``wait`` request, or None when the shim
        is gone. Opened before the start, so that an exit at once is not missed."""
        try:
            fd = handle.pidfd()
        except ProcessLookupError:
            return None
        try:
            sock = handle.open_wait()
        except OSError as exc:  # an exit is then seen from the pidfd alone
            log.debug("no wait connection to the shim at %s: %s", handle.state_dir, exc)
            sock = None
        return fd, sock

    @staticmethod
    def _close_watch(watch: tuple[int, Any] | None) -> None:
        if watch is not None:
            os.close(watch[0])
            if watch[1] is not None:
                watch[1].close()

    def _watch(self, c: Container, handle: Any, watch: tuple[int, Any] | None = None) -> None:
        """Follow one run of ``c``: its exit is recorded from the shim's ``wait`` reply (the
        exit code, as soon as the output is drained), and the run is finished when the
        shim's pidfd becomes readable (the runtime's state and cgroup are gone).

        Args:
            watch: what ``_open_watch`` returned before the start (opened here if None).

        Raises:
            ProcessLookupError: the shim is gone already.
        """
        loop = self._loop or asyncio.get_event_loop()
        watch = watch or self._open_watch(handle)
        if watch is None:
            raise ProcessLookupError(f"shim of {c.id[:12]} is gone")
        fd, sock = watch

        def on_exit() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._track(loop.create_task(self._on_shim_exit(c, handle)))

        loop.add_reader(fd, on_exit)
        if sock is not None:
            self._track(loop.create_task(self._wait_reply(c, handle, sock)))

    def _track(self, task: asyncio.Task) -> None:
        self._exit_tasks.add(task)  # the loop keeps only weak references
        task.add_done_callback(self._exit_tasks.discard)

    async def _wait_reply(self, c: Container, handle: Any, sock: Any) -> None:
        """Read the shim's ``wait`` reply (conmon: its exit file once the init exited) and
        record the exit it reports. Any failure (an old shim, a shim already past its
        sockets, a conmon gone) leaves the exit to ``_on_shim_exit``, which reads exit.json."""
        if hasattr(sock, "exit_record"):  # conmon: its init's pidfd, then its exit file
            status = await _init_exit(sock)
        else:
            status = await _reply_line(c, handle, sock)
        if status is None:
            return
        async with c.op_lock:
            if self._shims.get(c.id) is handle and c.id not in self._exiting:
                await self._record_exit(c, status)

    async def _record_exit(self, c: Container, status: dict[str, Any]) -> None:
        """The run is over (lock held): record the exit, answer waiters and events. The
        shim may still be deleting the runtime's state: ``_exiting[c.id]`` is resolved by
        ``_on_shim_exit``, and starts and removals wait for it. The record is written there,
        once per exit as before (a daemon killed in between finds the shim gone or going at
        restart and takes the exit from exit.json, as for any exit it did not see)."""
        self._exiting[c.id] = asyncio.get_running_loop().create_future()
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
        self._dying.discard(c.id)
        if c.state.oom_killed:
            self._emit(c, "oom")
        self._emit(c, "die", exitCode=str(c.state.exit_code))
        for fut in self._exit_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(c.state.exit_code)

    async def _on_shim_exit(self, c: Container, handle: Any) -> None:
        """The shim has exited: finish the run (unmount, release the network unless a
        restart follows), then restart by policy or auto-remove."""
        loop = asyncio.get_running_loop()
        status = None
        if c.id not in self._exiting:  # no wait reply was recorded: read exit.json
            status = await loop.run_in_executor(None, _wait_exit_status, handle)
        async with c.op_lock:
            if self._shims.get(c.id) is not handle:
                return  # not the run this watcher was for (already handled)
            if c.id not in self._exiting:
                await self._record_exit(c, status or handle.exit_status() or {"exit_code": 255})
            exited = self._exiting[c.id]  # popped once the run is finished (settled waits for it)
            self._shims.pop(c.id, None)  # may come (its waiter woken above) before that
            # a stop, kill or rm -f since the exit was recorded drops the policy restart
            restart = c.state.status == Status.RESTARTING
            auto_remove = (not restart and c.host_config.get("AutoRemove") and c.id not in self._removing
                           and c.id not in self._restarting)
            try:
                await loop.run_in_executor(None, _finish_run, self, c, restart, auto_remove)
            finally:
                self._exiting.pop(c.id, None)
                exited.set_result(None)
            if restart:
                self._schedule_restart(c)
        if auto_remove:
            try:
                await self.remove(c.id, force=True, volumes=True)
            except Exception as exc:  # noqa: BLE001 - auto-remove is best effort
                log.warning("auto-remove of %s failed: %s", c.id[:12], exc)
                if not c.removed:
                    await self._save(c)

    async def _shim_gone(self, c: Container) -> None:
        """Wait (without the lock) until the shim of ``c``'s last run has exited and its
        run was finished: a start or removal of the same id must not race the runtime's
        delete of its state, cgroup and bundle."""
        exited = self._exiting.get(c.id)
        if exited is not None:
            await asyncio.shield(exited)

    @contextlib.asynccontextmanager
    async def settled(self, c: Container, lock: bool = False,
                      timeout: float | None = None) -> AsyncIterator[Container]:
        """The one way in to a stopped container's files and final state: waits until the
        last run of ``c`` is wholly over first. Its exit may be recorded (and ``wait``
        answered) while the shim still deletes the runtime's state and the daemon has yet
        to unmount the rootfs, release the network and, under --userns-remap, shift the
        upper dir back. What reads or writes the container's files (commit, a build step's
        commit, export, diff, cp) goes through here; inspect too, waiting ``timeout`` seconds
        at most (moby's inspect waits on the container lock its exit cleanup holds, so it
        never shows a stopped container's address).

        Args:
            lock: also hold the container's lifecycle lock (no start, stop or rm) until the
                block ends, as ``cp`` does while it reads or writes the rootfs.

        Raises:
            ContainerNotFound: with ``lock``, the container was removed meanwhile.
        """
        if timeout is None:
            await self._shim_gone(c)
        else:
            try:
                await asyncio.wait_for(self._shim_gone(c), timeout)
            except asyncio.TimeoutError:
                log.warning("the run of %s is not finished after %.0f s", c.id[:12], timeout)
        if not lock:
            yield c
            return
        async with c.op_lock:
            if c.removed:
                from hako.errors import ContainerNotFound

                raise ContainerNotFound(f"No such container: {c.id}")
            yield c

    async def exits_finished(self, timeout: float = 10.0) -> None:
        """Wait (at most ``timeout`` seconds) until every exit recorded so far is finished
        and written: a hakod stopped right after it answered a ``docker stop`` must not leave
        the record saying running, or its next start would take that exit as one it did not
        see and apply the restart policy the user's stop had cancelled."""
        pending = [asyncio.shield(f) for f in self._exiting.values()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

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


def _finish_run(svc: Any, c: Container, restart: bool, auto_remove: bool) -> None:
    """The blocking end of a run, in one executor call: unmount the rootfs, release the
    network (unless a policy restart follows) and write the record. With ``--rm`` the
    removal follows and writes no record either (container_remove): a daemon killed in
    between finds the record running and its shim gone at restart, records the exit and
    removes the container then (container_restore)."""
    from hako.daemon import bundle

    bundle.unmount_rootfs(svc, c)
    if not restart:
        netsetup.release(svc, c)
    if not auto_remove:
        svc.store.write(c, *svc.store.snapshot(c))


async def _reply_line(c: Container, handle: Any, sock: Any) -> dict[str, Any] | None:
    """The exit record of the Python shim's ``wait`` reply on ``sock`` (closed here)."""
    from hako.runtime import shimclient

    try:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
    except OSError as exc:
        sock.close()
        log.debug("no wait connection to the shim of %s: %s", c.id[:12], exc)
        return None
    try:
        line = await reader.readline()
    except (OSError, ValueError):
        line = b""
    finally:
        writer.close()
    status = shimclient.exit_reply(line)
    if status is not None and not status["exited_at"]:
        status = handle.exit_status() or status  # exit.json is written before the reply
    return status


async def _init_exit(watch: Any) -> dict[str, Any] | None:
    """conmon's exit record, once the init ``watch`` follows has exited (closed here)."""
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    try:
        loop.add_reader(watch.fileno(), lambda: readable.done() or readable.set_result(None))
        try:
            await readable
        finally:
            loop.remove_reader(watch.fileno())
        return await loop.run_in_executor(None, watch.exit_record)
    finally:
        watch.close()


def _wait_exit_status(handle: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = handle.exit_status()
        if status is not None or time.monotonic() > deadline:
            return status or {"exit_code": 255}
        time.sleep(0.01)
