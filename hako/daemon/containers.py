"""ContainerService: create, start, stop, kill, restart, pause, wait, remove, rename, top.

Lifecycle (one ``Container`` record each, see ``state.py``)::

    create  → record + rootfs snapshot                      (status created)
    start   → mount rootfs, write the OCI bundle, spawn the shim (runtime create), connect
              pending attach streams, shim start             (status running)
    exit    → the shim's wait reply: record the exit, wake waiters   (status exited)
              the shim's pidfd (runtime delete done): unmount, release the network,
              policy restart or auto-remove (see container_exit)

The service is driven from the asyncio loop; blocking steps (bundle and rootfs work, record
writes with their fsync) run in the default executor. Each container has a lifecycle lock
(``Container.op_lock``, an asyncio.Lock): start, the stop/kill signalling, pause, unpause,
rename, the removal's checks and teardown, exec preparation and the exit handler take it, so
they see and leave a consistent state (``state.TRANSITIONS``); no one holds it while waiting
for a container to exit. Conflicting requests get Docker's 409 texts, no-ops its 304.
A shim outlives the daemon: ``restore()`` re-adopts running containers after a restart.

The class is assembled from one mixin per part of the lifecycle, each in its own module:
``container_start`` (start), ``container_exit`` (exit watching, policy restarts, wait),
``container_stop`` (kill, stop, restart; ``parse_signal``), ``container_remove`` (rm),
``container_procs`` (pause, unpause, rename, top, runtime calls) and ``container_restore``
(re-adoption after a daemon restart). This module holds the state they share, create,
the lock and record helpers, and the attach registry.

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from typing import Any

from hako.daemon import create as createpolicy
from hako.daemon import logconfig
from hako.daemon import mounts as mountpoints
from hako.daemon import netsetup
from hako.daemon import security
from hako.daemon import wiretypes
from hako.daemon.config import DaemonConfig
from hako.daemon.container_exit import ExitMixin
from hako.daemon.container_procs import ProcsMixin
from hako.daemon.container_remove import RemoveMixin
from hako.daemon.container_restore import RestoreMixin
from hako.daemon.container_start import StartMixin
from hako.daemon.container_stop import StopMixin, parse_signal
from hako.daemon.state import Container, ContainerStore, now_rfc3339, validate_name
from hako.errors import ContainerNotFound, InvalidArgument
from hako.support import ids

log = logging.getLogger("hako.containers")

__all__ = ["ContainerService", "parse_signal"]


class ContainerService(StartMixin, ExitMixin, StopMixin, RemoveMixin, ProcsMixin, RestoreMixin):
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
        from hako.support.fsflags import mark_topdir

        for path in (self.bundles_root, config.runtime_root):  # one directory per container
            os.makedirs(path, mode=0o711 if path == config.runtime_root else 0o777, exist_ok=True)
            mark_topdir(path)
        self._shims: dict[str, Any] = {}
        self._exit_waiters: dict[str, list[asyncio.Future]] = {}
        self._remove_waiters: dict[str, list[asyncio.Future]] = {}
        self._pending_attach: dict[str, list[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._manual_stop: set[str] = set()  # stopped/killed by the user: no policy restart
        self._restarts: dict[str, tuple[asyncio.Task, float]] = {}  # pending restart, delay
        self._exit_tasks: set[asyncio.Task] = set()  # the loop keeps only weak references
        self._exiting: dict[str, asyncio.Future] = {}  # exit recorded, shim not yet gone
        self._removing: set[str] = set()  # removals under way (a second one is a Conflict)
        self._restarting: set[str] = set()  # docker restart's own stop: no --rm removal (moby's
        # HasBeenManuallyRestarted), until the container runs again
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

        if not any(mp["Type"] == "volume" and mp.get("CopyData") for mp in c.mounts):
            return  # nothing to fill (and no snapshot lookup for the rootfs mounts)
        mountpoints.copy_up_at_create(
            self.volumes, c.id, c.mounts, self.images.rootfs_mounts(c.id),
            lambda: bundle.mount_rootfs_view(self, c), lambda: bundle.unmount_rootfs(self, c))

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
    # -- attach registry -------------------------------------------------------------------
    def add_pending_attach(self, c: Container, attach: Any) -> None:
        self._pending_attach.setdefault(c.id, []).append(attach)

    def drop_pending_attach(self, c: Container, attach: Any) -> None:
        items = self._pending_attach.get(c.id, [])
        if attach in items:
            items.remove(attach)
