"""Container removal: ``rm`` (with ``-f`` and ``-v``), ``rm -l`` of a link.

The ``RemoveMixin`` half of ``ContainerService``.

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from hako.daemon import mounts as mountpoints
from hako.daemon import netsetup
from hako.daemon.state import Container, Status
from hako.errors import Conflict, ContainerNotFound

log = logging.getLogger("hako.containers")


class RemoveMixin:
    """remove, remove_link, and the teardown they share with a failed create."""

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
        if c.state.running:
            await self._stop(c, 0, "SIGKILL")
        await self._shim_gone(c)  # the runtime's delete of the last run is over
        loop = asyncio.get_running_loop()
        async with c.op_lock:
            if c.state.running:  # cannot happen: starts are refused while _removing
                raise Conflict(f"container {c.id} is running again: removal abandoned")
            c.transition(Status.REMOVING)
            if not c.host_config.get("AutoRemove"):
                # A daemon killed during the removal finds it "Removing" and marks it dead. An
                # --rm container needs no such record (one fsync and one inode less for each):
                # its record still says it ran, and restore removes it as it would any
                # --rm container that is not running.
                await self._save(c)
            try:
                await loop.run_in_executor(None, self._teardown, c)
            except BaseException as exc:
                c.transition(Status.DEAD)  # as moby: a failed removal leaves it dead
                c.state.error = str(exc)
                await self._save(c)
                raise
            await loop.run_in_executor(None, self.store.delete, c)
            self._shims.pop(c.id, None)
            self._manual_stop.discard(c.id)
        await loop.run_in_executor(None, self._release_volumes, c.id, c.mounts, volumes)

    def _teardown(self, c: Container) -> None:
        """What a removal undoes, in one executor call: the rootfs mount, the network, the
        snapshot and the bundle."""
        from hako.daemon import bundle

        bundle.unmount_rootfs(self, c)
        netsetup.release(self, c)
        self.images.remove_rootfs(c.id)
        shutil.rmtree(self.bundle(c), True)

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
