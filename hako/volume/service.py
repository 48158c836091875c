"""VolumeService: create, get, list, remove, prune; which containers refer to each volume.

Lifecycle of a volume::

    create (API, or a container's ``-v name:/x`` / anonymous volume)  → exists
    acquire(name, container)      a container record refers to it: never removed meanwhile
    mount / unmount (start / exit) option mounts (tmpfs, bind devices) are up while in use
    release(container)            the container was removed
    remove / prune                only volumes no container refers to

References are kept in memory and rebuilt from the container records when the daemon starts
(``ContainerService.restore`` calls ``acquire`` for every record), so a volume used by a
stopped container is as protected as one used by a running container. One lock covers the
table: a container's get-or-create-and-acquire and a removal never interleave.

Errors carry Docker's texts: ``get NAME: no such volume`` (404),
``remove NAME: volume is in use - [ID, …]`` (409), ``create NAME: error looking up volume
plugin DRIVER: plugin "DRIVER" not found`` (404).

Layer: volume (3). May import: errors, support, linux.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

from hako.errors import Conflict, InvalidArgument, NotFound
from hako.support import ids
from hako.volume.local import LocalDriver, Volume, dir_size

log = logging.getLogger("hako.volume")

DRIVERS = ("local",)


class VolumeNotFound(NotFound):
    """No volume has this name."""


class VolumeInUse(Conflict):
    """A container refers to the volume."""


def check_driver(name: str, driver: str) -> None:
    """Raises NotFound with Docker's text when ``driver`` is not ``local``."""
    if driver and driver not in DRIVERS:
        raise NotFound(f'create {name}: error looking up volume plugin {driver}: '
                       f'plugin "{driver}" not found')


class VolumeService:
    """The one entry for volumes: the API routes and the container service use it."""

    def __init__(self, root: str) -> None:
        self.driver = LocalDriver(root)
        self._lock = threading.RLock()
        self._volumes: dict[str, Volume] = self.driver.load()
        self._refs: dict[str, set[str]] = {}
        self._active: dict[str, set[str]] = {}

    # -- lookups ---------------------------------------------------------------------------
    def get(self, name: str) -> Volume:
        """Raises VolumeNotFound (``get NAME: no such volume``)."""
        with self._lock:
            vol = self._volumes.get(name)
        if vol is None:
            raise VolumeNotFound(f"get {name}: no such volume")
        return vol

    def list(self) -> list[Volume]:
        with self._lock:
            return sorted(self._volumes.values(), key=lambda v: v.name)

    def users(self, name: str) -> list[str]:
        """Ids of the containers that refer to the volume."""
        with self._lock:
            return sorted(self._refs.get(name, ()))

    def size(self, name: str) -> int:
        return dir_size(self.get(name).mountpoint)

    # -- create / acquire ------------------------------------------------------------------
    def create(self, name: str = "", driver: str = "local", options: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, anonymous: bool = False) -> Volume:
        """Create a volume, or return the existing one of that name (as Docker).

        Raises:
            NotFound: unknown driver. InvalidArgument: bad name or options.
        """
        name = name or ids.new_id()
        check_driver(name, driver)
        with self._lock:
            vol = self._volumes.get(name)
            if vol is not None:
                return vol
            try:
                vol = self.driver.create(name, labels, options, anonymous)
            except InvalidArgument as exc:
                raise InvalidArgument(f"create {name}: {exc}") from exc
            self._volumes[name] = vol
            return vol

    def acquire(self, name: str, container_id: str, driver: str = "local",
                anonymous: bool = False) -> Volume:
        """Get or create ``name`` and record that ``container_id`` refers to it."""
        with self._lock:
            vol = self._volumes.get(name)
            if vol is None:
                vol = self.create(name, driver, anonymous=anonymous)
            self._refs.setdefault(name, set()).add(container_id)
            return vol

    def adopt(self, name: str, container_id: str) -> None:
        """Restore a reference read from a container record (the volume may be gone)."""
        with self._lock:
            if name not in self._volumes:
                log.warning("container %s refers to missing volume %s", container_id[:12], name)
            self._refs.setdefault(name, set()).add(container_id)

    def release(self, container_id: str, names: Iterable[str]) -> None:
        with self._lock:
            for name in names:
                refs = self._refs.get(name)
                if refs is not None:
                    refs.discard(container_id)
                    if not refs:
                        del self._refs[name]

    # -- mount / unmount (option volumes) --------------------------------------------------
    def mount(self, name: str, container_id: str) -> str:
        """The host path to bind into the container; performs an option mount if first."""
        with self._lock:
            vol = self.get(name)
            self.driver.mount(vol)
            self._active.setdefault(name, set()).add(container_id)
            return vol.mountpoint

    def unmount(self, name: str, container_id: str) -> None:
        with self._lock:
            active = self._active.get(name, set())
            active.discard(container_id)
            if active:
                return
            self._active.pop(name, None)
            vol = self._volumes.get(name)
            if vol is not None:
                self.driver.unmount(vol)

    # -- remove / prune --------------------------------------------------------------------
    def remove(self, name: str, force: bool = False) -> None:
        """Remove an unused volume.

        Raises:
            VolumeNotFound: unknown (not with ``force``). VolumeInUse: Docker's 409 text.
        """
        with self._lock:
            vol = self._volumes.get(name)
            if vol is None:
                if force:
                    return
                raise VolumeNotFound(f"get {name}: no such volume")
            refs = self._refs.get(name)
            if refs:
                raise VolumeInUse(f"remove {name}: volume is in use - [{', '.join(sorted(refs))}]")
            del self._volumes[name]
        self.driver.remove(vol)

    def prune(self, keep: Callable[[Volume], bool] = lambda v: False) -> tuple[list[str], int]:
        """Remove every unused volume ``keep`` does not protect.

        Returns:
            (names removed, bytes reclaimed).
        """
        removed, reclaimed = [], 0
        for vol in self.list():
            if self.users(vol.name) or keep(vol):
                continue
            size = dir_size(vol.mountpoint)
            try:
                self.remove(vol.name)
            except (VolumeInUse, VolumeNotFound):
                continue
            removed.append(vol.name)
            reclaimed += size
        return removed, reclaimed
