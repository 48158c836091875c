"""Containers after a daemon restart: records reloaded, live shims re-adopted.

The ``RestoreMixin`` half of ``ContainerService`` (``liverestore.py`` holds what happens at
the daemon's shutdown and the policy starts at boot).

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging

from hako.daemon import mounts as mountpoints
from hako.daemon import netsetup
from hako.daemon import restart as restartpolicy
from hako.daemon.state import Status, now_rfc3339

log = logging.getLogger("hako.containers")


class RestoreMixin:
    """restore, and the sweep of half-created containers' snapshots."""

    async def restore(self) -> None:
        """Reload records; re-adopt live shims; mark the dead ones exited; stop the shims of
        starts the daemon never finished; remove ``--rm`` containers that are not running.
        A container whose restore fails is logged and left as it was loaded (moby's restore
        does the same); the others and the daemon go on."""
        self._loop = loop = asyncio.get_running_loop()
        loaded = await loop.run_in_executor(None, self.store.load_all)
        self._manual_stop.update(c.id for c in loaded if c.state.manually_stopped)
        for c in loaded:
            for name in mountpoints.volume_names(c.mounts):
                self.volumes.adopt(name, c.id)
        await loop.run_in_executor(None, self._sweep_orphan_rootfs, {c.id for c in loaded})
        for c in loaded:
            try:
                await self._restore_one(c)
            except Exception as exc:  # noqa: BLE001 - one container must not keep hakod down
                # as moby: logged, and the container left as it was loaded (its shim may
                # be alive: marking it exited would release the network of a running one)
                log.error("failed to restore container %s: %s", c.id[:12], exc)
        keep = {c.id: netsetup.endpoints(c) for c in loaded
                if c.state.running or c.state.status == Status.RESTARTING}
        await loop.run_in_executor(None, self.network.sweep, keep)
        for c in loaded:
            if c.id not in keep and c.networking.get("Sandbox"):
                try:
                    await loop.run_in_executor(None, netsetup.release, self, c)
                    await self._save(c)
                except Exception as exc:  # noqa: BLE001 - as above
                    log.error("failed to release the network of container %s: %s", c.id[:12], exc)
        for c in loaded:
            if c.host_config.get("AutoRemove") and not c.state.running:
                try:
                    await self.remove(c.id, force=True, volumes=True)
                except Exception as exc:  # noqa: BLE001 - auto-remove is best effort
                    log.warning("auto-remove of %s at restore failed: %s", c.id[:12], exc)

    async def _restore_one(self, c) -> None:
        """One container's restore: re-adopt its live shim, or record how it ended (and
        schedule its restart policy). Its errors are logged by ``restore`` (as moby's
        restore logs a container it cannot restore and goes on with the others)."""
        from hako.daemon import bundle

        loop = asyncio.get_running_loop()
        if c.state.status == Status.REMOVING:  # the daemon died during a removal
            c.transition(Status.DEAD)
            await self._save(c)
        if not c.state.running:
            await loop.run_in_executor(None, bundle.stop_stale_shim, self, c)
            return
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
                return
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
