"""ContainerService: create, start, stop, kill, restart, pause, wait, remove, rename, top.

Lifecycle (one ``Container`` record each, see ``state.py``)::

    create  → record + rootfs snapshot + etc files          (status created)
    start   → mount rootfs, write the OCI bundle, spawn the shim (runtime create), connect
              pending attach streams, shim start             (status running)
    exit    → the shim's pidfd becomes readable: read exit.json, unmount, wake waiters,
              auto-remove                                    (status exited)

The service is driven from the asyncio loop; blocking steps (bundle and rootfs work, record
writes with their fsync) run in the default executor. Each container has a lifecycle lock
(``Container.op_lock``, an asyncio.Lock): start, the stop/kill signalling, pause, unpause,
rename, the removal's checks and teardown, exec preparation and the exit handler take it, so
they see and leave a consistent state (``state.TRANSITIONS``); no one holds it while waiting
for a container to exit. Conflicting requests get Docker's 409 texts, no-ops its 304.
A shim outlives the daemon: ``restore()`` re-adopts running containers after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal as signals
import time
from typing import Any

from hako.daemon import create as createpolicy
from hako.daemon import logconfig
from hako.daemon import mounts as mountpoints
from hako.daemon import netsetup
from hako.daemon import restart as restartpolicy
from hako.daemon import security
from hako.daemon import wiretypes
from hako.daemon.config import DaemonConfig
from hako.daemon.state import Container, ContainerStore, Status, now_rfc3339, validate_name
from hako.errors import Conflict, ContainerNotFound, InvalidArgument, NotModified
from hako.support import ids

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


class ContainerService:
    """The engine's one entry for containers, shared by every API route."""

    def __init__(self, config: DaemonConfig, images: Any, events: Any = None,
                 volumes: Any = None, network: Any = None) -> None:
        from hako.volume.service import VolumeService

        self.config = config
        self.images = images
        self.events = events
        self.volumes = volumes or VolumeService(os.path.join(config.data_root, "volumes"))
        self.network = network  # NetworkService
        self.store = ContainerStore(config.containers_root)
        self.bundles_root = os.path.join(config.exec_root, "containers")
        os.makedirs(self.bundles_root, exist_ok=True)
        self._shims: dict[str, Any] = {}
        self._exit_waiters: dict[str, list[asyncio.Future]] = {}
        self._remove_waiters: dict[str, list[asyncio.Future]] = {}
        self._pending_attach: dict[str, list[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._manual_stop: set[str] = set()  # stopped/killed by the user: no policy restart
        self._restarts: dict[str, tuple[asyncio.Task, float]] = {}  # pending restart, delay
        self._exit_tasks: set[asyncio.Task] = set()  # the loop keeps only weak references
        self._removing: set[str] = set()  # removals under way (a second one is a Conflict)
        self._dying: set[str] = set()  # SIGKILL sent, exit not yet processed: no pause
        from hako.daemon.health_monitor import ExecProbe, HealthMonitor

        self.health = HealthMonitor(ExecProbe(self, self._emit), self._save, self._emit)

    # -- helpers ---------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def list(self) -> list[Container]:
        return self.store.all()

    def images_in_use(self, image_id: str) -> list[str]:
        """Ids of containers created from ``image_id`` (for image removal conflicts)."""
        return [c.id for c in self.store.all() if c.image == image_id]

    def running_image_users(self, image_id: str) -> list[str]:
        return [c.id for c in self.store.all() if c.image == image_id and c.state.running]

    def dns_lookup(self, cid: str, name: str) -> list[str]:
        """The embedded DNS server's question (called from the proxy's thread)."""
        return netsetup.lookup(self, cid, name)

    async def network_connect(self, ref: str, network: str, config: dict[str, Any]) -> None:
        c, lock = await self._locked(ref)
        try:
            await asyncio.get_running_loop().run_in_executor(None, netsetup.connect, self, c, network, config)
            await self._save(c)
        finally:
            lock.release()

    async def network_disconnect(self, ref: str, network: str) -> None:
        c, lock = await self._locked(ref)
        try:
            await asyncio.get_running_loop().run_in_executor(None, netsetup.disconnect, self, c, network)
            await self._save(c)
        finally:
            lock.release()

    def bundle(self, c: Container) -> str:
        return os.path.join(self.bundles_root, c.id)

    def shim(self, c: Container) -> Any:
        return self._shims.get(c.id)

    def _emit(self, c: Container, action: str, **attrs: Any) -> None:
        if self.events is not None:
            self.events.container(c, action, **attrs)

    # -- create ----------------------------------------------------------------------------
    def create(self, name: str | None, body: dict[str, Any]) -> tuple[str, list[str]]:
        """Create a container from a Docker ``ContainerCreateRequest`` body.

        Returns:
            (id, warnings).

        Raises:
            InvalidArgument, ImageNotFound, AlreadyExists: as Docker.
        """
        image_ref = body.get("Image") or ""
        if not image_ref:
            raise InvalidArgument("Config cannot be empty in order to create a container")
        wiretypes.check_create_body(body)
        from hako.daemon.health import check_config

        check_config(body.get("Healthcheck"))
        host_config = createpolicy.default_host_config(body.get("HostConfig"))
        host_config["LogConfig"] = logconfig.merge(host_config.get("LogConfig"), self.config.log_driver,
                                                   self.config.log_opts)
        logconfig.validate(host_config["LogConfig"])
        warnings = createpolicy.validate_host_config(host_config)
        security.check(host_config)
        from hako.daemon import rootless, userns

        userns.check_create(self.config.remap, host_config)
        rootless.check_resources(self.config, host_config)
        netsetup.check_create(body, host_config)
        # docker-py sends ``runtime=`` as a top-level Runtime; Docker ignores it but its
        # default runtime is runc, so honouring it gives what such clients expect.
        runtime = host_config.get("Runtime") or body.get("Runtime") or self.config.default_runtime
        self.config.runtime_path(runtime)
        host_config["Runtime"] = runtime
        image = self.images.get(image_ref)
        user_conf = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig", "Runtime")}
        for key in ("Cmd", "Entrypoint", "Shell"):  # Docker's StrSlice: a string is one item
            if isinstance(user_conf.get(key), str):
                user_conf[key] = [user_conf[key]]
        for key in ("CapAdd", "CapDrop"):
            if isinstance(host_config.get(key), str):
                host_config[key] = [host_config[key]]
        conf = createpolicy.merge_config(user_conf, createpolicy.image_config(image))
        cid = ids.new_id()
        name = validate_name(name) if name else ids.random_name(self.store.names())
        conf["Image"] = image_ref
        conf["Hostname"] = conf.get("Hostname") or cid[:12]
        for key in ("Domainname", "User", "WorkingDir"):
            conf.setdefault(key, "")
        for key in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
            conf[key] = bool(conf.get(key))
        path, args = createpolicy.entrypoint_and_args(conf)
        from hako.daemon import systemd_mode

        systemd_mode.apply_create(conf, host_config)  # --systemd (label io.hako.systemd)
        points = mountpoints.plan(conf, host_config, self.get)
        netsetup.normalize_links(self, name, host_config)
        self.store.reserve_name(name, cid)
        root = self.store.new_dir(cid)
        try:
            mountpoints.acquire(self.volumes, cid, points)
            self.images.prepare_rootfs(cid, image.id)
            createpolicy.write_etc_files(root, conf["Hostname"], host_config.get("ExtraHosts"))
            c = Container(id=cid, name=name, created=now_rfc3339(), image=image.id, image_ref=image_ref,
                          path=path, args=args, config=conf, host_config=host_config, root=root,
                          runtime=runtime, mounts=points, networking=netsetup.initial(
                              self.network, host_config,
                              (body.get("NetworkingConfig") or {}).get("EndpointsConfig")))
            self._copy_up(c)
            self.store.add(c)
        except BaseException:
            self._release_volumes(cid, points, remove_anonymous=True)
            self.store.release_name(name)
            shutil.rmtree(root, ignore_errors=True)
            try:
                self.images.remove_rootfs(cid)
            except Exception:  # noqa: BLE001 - best-effort rollback
                pass
            raise
        self._emit(c, "create")
        return cid, warnings

    def _copy_up(self, c: Container) -> None:
        """Fill the container's empty volumes from its image, at create as Docker."""
        from hako.daemon import bundle

        mountpoints.copy_up_at_create(
            self.volumes, c.id, c.mounts, self.images.rootfs_mounts(c.id),
            lambda: bundle.mount_rootfs(self, c), lambda: bundle.unmount_rootfs(self, c))

    # -- locking and records ---------------------------------------------------------------
    async def _locked(self, ref: str) -> tuple[Container, Any]:
        """Find ``ref`` and take its lifecycle lock (the caller releases it).

        Raises:
            ContainerNotFound: unknown, or removed while we waited for the lock.
        """
        c = self.get(ref)
        await c.op_lock.acquire()
        if c.removed:
            c.op_lock.release()
            raise ContainerNotFound(f"No such container: {ref}")
        return c, c.op_lock

    async def _save(self, c: Container) -> None:
        """Write the record off the loop (temp file, fsync, rename in an executor thread)."""
        doc, seq = self.store.snapshot(c)
        await asyncio.get_running_loop().run_in_executor(None, self.store.write, c, doc, seq)

    # -- start -----------------------------------------------------------------------------
    async def start(self, ref: str, by_policy: bool = False) -> None:
        """Start a created or exited container (``by_policy``: a restarting one).

        Raises:
            NotModified: already running. Conflict: paused, or being removed.
            RuntimeFailed: the runtime refused.
        """
        c, lock = await self._locked(ref)
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
        try:
            netns, net_host = await loop.run_in_executor(None, netsetup.prepare, self, c)
        except Exception as exc:
            await self._start_failed(c, exc)
            return exc
        try:
            handle = await loop.run_in_executor(None, bundle.start_shim, self, c, netns, net_host)
        except Exception as exc:
            await self._start_failed(c, exc)
            return _start_error(exc)
        self._shims[c.id] = handle
        for attach in self._pending_attach.pop(c.id, []):
            await attach.connect(handle)
        try:
            await loop.run_in_executor(None, handle.start)
        except Exception as exc:
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
        self._watch(c, handle)
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

    def _exit_future(self, c: Container) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._exit_waiters.setdefault(c.id, []).append(fut)
        return fut

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        """Stop (when running) then start, like moby's containerRestart: each half takes
        the lock on its own, so a concurrent start makes this one NotModified."""
        c = self.get(ref)
        if c.state.running:
            await self._stop(c, timeout)
        await self.start(c.id)
        self._emit(c, "restart")

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

    # -- remove ----------------------------------------------------------------------------
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        """Remove a container (and its rootfs); force kills a running one first.

        Like moby's ContainerRm: the removal is marked in progress under the lock (a second
        rm is a Conflict, a start is refused), a running container is killed and its exit
        awaited without the lock, then the container moves to ``removing`` and is torn down.

        Raises:
            Conflict: running, paused or restarting without force; removal already under way.
        """
        c, lock = await self._locked(ref)
        try:
            if c.state.status == Status.REMOVING or c.id in self._removing:
                raise Conflict(f"removal of container {ref} is already in progress")
            if c.state.running and not force:
                state = c.state.status.value
                procedure = "Stop the container before attempting removal or force remove"
                if state == "paused":
                    procedure = "Unpause and then " + procedure[0].lower() + procedure[1:]
                raise Conflict(f"You cannot remove a {state} container {c.id}. {procedure}")
            self._removing.add(c.id)
        finally:
            lock.release()
        try:
            await self._remove(c, volumes)
        finally:
            self._removing.discard(c.id)
        self._emit(c, "destroy")
        for fut in self._exit_waiters.pop(c.id, []) + self._remove_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(c.state.exit_code)

    async def remove_link(self, name: str) -> None:
        """``rm -l /parent/alias``: drop the link from the parent (moby's rmLink).

        Raises:
            ContainerNotFound: no such link. InvalidArgument: not a link name.
        """
        full = "/" + name.lstrip("/")
        parent_name, _, alias = full[1:].rpartition("/")
        if not parent_name:
            raise Conflict("Conflict, cannot remove the default link name of the container")
        try:
            parent = self.get(parent_name)
        except ContainerNotFound:
            raise ContainerNotFound(f"No such container: {full}") from None
        links = parent.host_config.get("Links") or []
        kept = [entry for entry in links if entry.partition(":")[2] != f"/{parent.name}/{alias}"]
        if len(kept) == len(links):
            raise ContainerNotFound(f"No such container: {full}")
        async with parent.op_lock:
            parent.host_config["Links"] = kept or None
            await self._save(parent)

    async def _remove(self, c: Container, volumes: bool = False) -> None:
        """Kill, unmount and delete ``c``; the blocking steps run in the executor."""
        from hako.daemon import bundle

        if c.state.running:
            await self._stop(c, 0, "SIGKILL")
        loop = asyncio.get_running_loop()
        async with c.op_lock:
            if c.state.running:  # cannot happen: starts are refused while _removing
                raise Conflict(f"container {c.id} is running again: removal abandoned")
            c.transition(Status.REMOVING)
            await self._save(c)
            try:
                await loop.run_in_executor(None, bundle.unmount_rootfs, self, c)
                await loop.run_in_executor(None, netsetup.release, self, c)
                await loop.run_in_executor(None, self.images.remove_rootfs, c.id)
                await loop.run_in_executor(None, shutil.rmtree, self.bundle(c), True)
            except BaseException as exc:
                c.transition(Status.DEAD)  # as moby: a failed removal leaves it dead
                c.state.error = str(exc)
                await self._save(c)
                raise
            await loop.run_in_executor(None, self.store.delete, c)
            self._shims.pop(c.id, None)
            self._manual_stop.discard(c.id)
        await loop.run_in_executor(None, self._release_volumes, c.id, c.mounts, volumes)

    def _release_volumes(self, cid: str, points: list, remove_anonymous: bool) -> None:
        """Drop a removed container's references; with ``rm -v`` (or a failed create)
        remove its anonymous volumes that no other container uses (moby's
        removeMountPoints: named volumes stay)."""
        from hako.volume.service import VolumeInUse, VolumeNotFound

        self.volumes.release(cid, mountpoints.volume_names(points))
        if not remove_anonymous:
            return
        for mp in points:
            if mp["Type"] == "volume" and not mp.get("Named"):
                try:
                    self.volumes.remove(mp["Name"])
                except (VolumeInUse, VolumeNotFound):
                    pass
                except Exception as exc:  # noqa: BLE001 - the container is gone already
                    log.warning("removing volume %s of %s: %s", mp["Name"], cid[:12], exc)

    # -- pause / rename / misc -------------------------------------------------------------
    async def pause(self, ref: str) -> None:
        """Freeze the container's processes.

        Raises:
            Conflict: not running, restarting, already paused (Docker's texts).
        """
        c, lock = await self._locked(ref)
        try:
            if c.state.status == Status.RESTARTING:
                raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
            if not c.state.running or c.id in self._dying or c.id in self._removing:
                raise Conflict(f"Container {c.id} is not running")
            if c.state.status == Status.PAUSED:
                raise Conflict(f"Container {c.id} is already paused")
            await self._runtime_or_not_running(c, "pause")
            c.transition(Status.PAUSED)
            self.health.update(c)  # a paused container is not probed
            await self._save(c)
            self._emit(c, "pause")
        finally:
            lock.release()

    async def unpause(self, ref: str) -> None:
        """Thaw a paused container.

        Raises:
            Conflict: the container is not paused.
        """
        c, lock = await self._locked(ref)
        try:
            if c.state.status != Status.PAUSED:
                raise Conflict(f"Container {c.id} is not paused")
            await self._runtime_or_not_running(c, "resume")
            c.transition(Status.RUNNING)
            self.health.update(c)
            await self._save(c)
            self._emit(c, "unpause")
        finally:
            lock.release()

    async def _runtime_or_not_running(self, c: Container, op: str) -> None:
        """Run ``runtime op``; when it fails because the container's init is gone (its exit
        is about to be processed), answer Docker's 409 instead of the runtime's error."""
        try:
            await self._runtime(c, op)
        except Exception:
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(None, self.init_alive, c):
                raise Conflict(f"Container {c.id} is not running") from None
            raise

    def init_alive(self, c: Container) -> bool:
        """Whether the container's init process still lives (not exited, not a zombie, not
        exiting: an exiting init has left its namespaces while it waits, not yet a zombie,
        for the other processes of its pid namespace to go)."""
        from hako.daemon import bundle

        if not c.state.pid or bundle.read_exit_status(self, c) is not None:
            return False
        try:
            with open(f"/proc/{c.state.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return False
            os.readlink(f"/proc/{c.state.pid}/ns/mnt")
        except (OSError, IndexError):
            return False
        return True

    async def _runtime(self, c: Container, *args: str) -> str:
        from hako.errors import RuntimeFailed

        binary = self.config.runtime_path(c.runtime)
        proc = await asyncio.create_subprocess_exec(
            binary, "--root", self.config.runtime_root, *args, c.id,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeFailed(err.decode(errors="replace").strip() or f"runtime {args[0]} failed")
        return out.decode(errors="replace")

    async def rename(self, ref: str, new_name: str) -> None:
        """Rename a container.

        Raises:
            InvalidArgument: empty or invalid name. AlreadyExists: the name is taken.
        """
        c, lock = await self._locked(ref)
        try:
            if not new_name:
                raise InvalidArgument("Neither old nor new names may be empty")
            new_name = validate_name(new_name)
            if new_name == c.name:
                raise InvalidArgument(f"Renaming a container with the same name as its current name")
            self.store.reserve_name(new_name, c.id)
            old = c.name
            c.name = new_name
            await self._save(c)
            self.store.release_name(old)
            self._emit(c, "rename", oldName="/" + old)
        finally:
            lock.release()

    def top(self, ref: str, ps_args: str = "") -> dict[str, Any]:
        """Processes of a running container, as ``ps`` on the host shows them.

        Raises:
            Conflict: the container is not running.
        """
        import subprocess

        c = self.get(ref)
        if not c.state.running:
            raise Conflict(f"Container {c.id} is not running")
        pids = set(self.pids(c))
        args = ps_args.split() if ps_args else ["-ef"]
        out = subprocess.run(["ps", *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise InvalidArgument(f"Error running ps: {out.stderr.strip()}")
        lines = out.stdout.splitlines()
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidArgument(f"Couldn't find PID field in ps output")
        pid_col = titles.index("PID")
        procs = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
                procs.append(fields)
        return {"Titles": titles, "Processes": procs}

    def pids(self, c: Container) -> list[int]:
        """Pids in the container's cgroup (falls back to the init pid)."""
        try:
            from hako.runtime.cgroups.detect import new_manager

            found = new_manager(self.cgroups_path(c), c.id).pids()
            if found:
                return found
        except Exception as exc:  # noqa: BLE001 - cgroup may be gone
            log.debug("pids of %s: %s", c.id[:12], exc)
        return [c.state.pid] if c.state.pid else []

    def cgroups_path(self, c: Container) -> str:
        parent = c.host_config.get("CgroupParent") or self.config.cgroup_parent
        return f"{parent.rstrip('/')}/{c.id}"

    # -- restore after a daemon restart ----------------------------------------------------
    async def restore(self) -> None:
        """Reload records; re-adopt live shims; mark the dead ones exited; stop the shims of
        starts the daemon never finished; remove ``--rm`` containers that are not running."""
        from hako.daemon import bundle

        self._loop = loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(None, self.store.load_all)
        self._manual_stop.update(c.id for c in loaded if c.state.manually_stopped)
        for c in loaded:
            for name in mountpoints.volume_names(c.mounts):
                self.volumes.adopt(name, c.id)
        await loop.run_in_executor(None, self._sweep_orphan_rootfs, {c.id for c in loaded})
        for c in loaded:
            if c.state.status == Status.REMOVING:  # the daemon died during a removal
                c.transition(Status.DEAD)
                await self._save(c)
            if not c.state.running:
                await loop.run_in_executor(None, bundle.stop_stale_shim, self, c)
                continue
            handle = await loop.run_in_executor(None, bundle.load_shim, self, c)
            if handle is not None:
                try:
                    self._watch(c, handle)
                    self._shims[c.id] = handle
                    for name in mountpoints.volume_names(c.mounts):
                        self.volumes.mount(name, c.id)  # option mounts are still up
                    await loop.run_in_executor(None, netsetup.readopt, self, c)
                    if c.state.status == Status.RUNNING:
                        self.health.init(c)  # as moby's restore: starting again, log kept
                        if c.state.health is not None:
                            await self._save(c)
                    continue
                except ProcessLookupError:  # the shim ended just now
                    pass
            status = bundle.read_exit_status(self, c) or {"exit_code": 255}
            c.state.exit_code = int(status.get("exit_code", 255))
            c.state.oom_killed = bool(status.get("oom_killed", False))
            c.state.finished_at = status.get("exited_at") or now_rfc3339()
            c.state.pid = 0
            c.state.shim_pid = 0
            # It died while the daemon was away: its restart policy still applies (moby
            # restarts such containers at daemon start).
            restart = c.state.status == Status.RESTARTING or restartpolicy.should_restart(
                c.host_config.get("RestartPolicy"), c.state.exit_code, False, c.restart_count)
            c.transition(Status.RESTARTING if restart else Status.EXITED)
            await loop.run_in_executor(None, bundle.unmount_rootfs, self, c)
            if not restart:
                await loop.run_in_executor(None, netsetup.release, self, c)
            await self._save(c)
            if restart:
                self._schedule_restart(c)
        keep = {c.id: netsetup.endpoints(c) for c in loaded
                if c.state.running or c.state.status == Status.RESTARTING}
        await loop.run_in_executor(None, self.network.sweep, keep)
        for c in loaded:
            if c.id not in keep and c.networking.get("Sandbox"):
                await loop.run_in_executor(None, netsetup.release, self, c)
                await self._save(c)
        for c in loaded:
            if c.host_config.get("AutoRemove") and not c.state.running:
                try:
                    await self.remove(c.id, force=True, volumes=True)
                except Exception as exc:  # noqa: BLE001 - auto-remove is best effort
                    log.warning("auto-remove of %s at restore failed: %s", c.id[:12], exc)

    def _sweep_orphan_rootfs(self, known: set[str]) -> None:
        """Remove container snapshots that no record claims (a create killed half-way)."""
        from hako.image.rootfs import key_for

        sn = getattr(self.images, "sn", None)
        if sn is None:
            return
        prefix = key_for("")
        for info in list(sn.walk()):
            cid = info.name[len(prefix):] if info.name.startswith(prefix) else ""
            if cid and cid not in known:
                log.info("removing the rootfs of half-created container %s", cid[:12])
                self.images.remove_rootfs(cid)

    # -- attach registry -------------------------------------------------------------------
    def add_pending_attach(self, c: Container, attach: Any) -> None:
        self._pending_attach.setdefault(c.id, []).append(attach)

    def drop_pending_attach(self, c: Container, attach: Any) -> None:
        items = self._pending_attach.get(c.id, [])
        if attach in items:
            items.remove(attach)


def _start_error(exc: Exception) -> Exception:
    """Docker's translateContainerdStartErr: bad commands are the caller's fault (400)."""
    code = getattr(exc, "exit_code", None)
    text = f"OCI runtime create failed: {exc}: unknown"
    if code in (126, 127):
        return InvalidArgument(text)
    from hako.errors import Internal

    return Internal(text) if code is not None else exc


def _wait_exit_status(handle: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = handle.exit_status()
        if status is not None or time.monotonic() > deadline:
            return status or {"exit_code": 255}
        time.sleep(0.01)
