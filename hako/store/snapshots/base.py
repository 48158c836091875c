"""The Snapshotter protocol (containerd's vocabulary) and the shared directory machinery.

Vocabulary: a ``key`` names an *active* (writable) or *view* (read-only) snapshot; a
``name`` names a *committed* one (image layers are committed under their chain id); a
``parent`` is always a committed name.

Lifecycle::

    mounts = sn.prepare(key, parent)   # active snapshot on top of parent ("" = empty)
    ...apply mounts, write...          # or diff.apply_layer into the snapshot
    sn.commit(name, key)               # key disappears, name is committed (immutable)
    sn.view(key2, name)                # read-only mounts of a committed snapshot
    sn.remove(key2)                    # committed snapshots with children cannot go

Snapshotters return ``Mount`` lists and never mount anything. Each snapshot is a directory
``<root>/snapshots/<n>/`` (``fs/`` plus, for overlay, ``work/``), ``<n>`` a number from the
metastore (``<root>/snapshots.db``). Directories appear under a temporary name and are
renamed in the same sqlite transaction that records them, so a crash leaves at worst an
orphan directory, removed at the next start.

Layer 3. May import: errors, support, store.
"""

from __future__ import annotations

import enum
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from hako.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from hako.store.mount import Mount


class Kind(enum.Enum):
    VIEW = "view"
    ACTIVE = "active"
    COMMITTED = "committed"


@dataclass(frozen=True)
class Info:
    name: str
    kind: Kind
    parent: str = ""
    labels: dict[str, str] = field(default_factory=dict, compare=False)
    created: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True)
class Usage:
    size: int
    inodes: int


class Snapshotter(Protocol):
    """See the module docstring for the lifecycle."""

    def stat(self, key: str) -> Info: ...
    def prepare(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]: ...
    def view(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]: ...
    def mounts(self, key: str) -> list[Mount]: ...
    def commit(self, name: str, key: str, labels: dict | None = None) -> None: ...
    def remove(self, key: str) -> None: ...
    def walk(self) -> Iterator[Info]: ...
    def usage(self, key: str) -> Usage: ...
    def close(self) -> None: ...


def dir_usage(path: str) -> Usage:
    """Disk usage of a tree (hardlinked inodes counted once)."""
    seen: set[tuple[int, int]] = set()
    size = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            size += st.st_blocks * 512 if st.st_blocks else st.st_size
    return Usage(size, len(seen))


class DirSnapshotter:
    """Shared machinery: metastore bookkeeping plus one directory per snapshot.

    Subclasses implement ``_populate(fs, parents)`` and ``_mounts(sid, kind, parents)``.
    """

    def __init__(self, root: str) -> None:
        from hako.store.snapshots.metastore import MetaStore

        self.root = root
        os.makedirs(os.path.join(root, "snapshots"), exist_ok=True)
        from hako.support.fsflags import mark_topdir

        mark_topdir(os.path.join(root, "snapshots"))  # one directory per snapshot (see fsflags)
        self.ms = MetaStore(os.path.join(root, "snapshots.db"))
        self._cleanup()

    def _dir(self, sid: int) -> str:
        return os.path.join(self.root, "snapshots", str(sid))

    def _cleanup(self) -> None:
        known = {str(i) for i in self.ms.ids()}
        base = os.path.join(self.root, "snapshots")
        for name in os.listdir(base):
            if name not in known:
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)

    def _chain(self, parent: str) -> list[int]:
        """Snapshot ids of ``parent`` and its ancestors, top first."""
        out = []
        while parent:
            rec = self.ms.get(parent)
            out.append(rec.id)
            parent = rec.info.parent
        return out

    def stat(self, key: str) -> Info:
        return self.ms.get(key).info

    def prepare(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]:
        return self._create(Kind.ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: dict | None = None) -> list[Mount]:
        return self._create(Kind.VIEW, key, parent, labels)

    def _create(self, kind: Kind, key: str, parent: str, labels: dict | None) -> list[Mount]:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        if parent:
            if self.ms.get(parent).info.kind != Kind.COMMITTED:
                raise InvalidArgument(f"parent {parent} is not committed")
        if self.ms.exists(key):
            raise AlreadyExists(f"snapshot {key}: already exists")
        tmp = os.path.join(self.root, "snapshots", f"new-{os.getpid()}-{os.urandom(4).hex()}")
        os.makedirs(os.path.join(tmp, "fs"))
        parents = self._chain(parent)
        try:
            if kind == Kind.ACTIVE or not parents:
                self._populate(os.path.join(tmp, "fs"), parents)

            def finish(sid: int) -> None:
                os.rename(tmp, self._dir(sid))

            sid = self.ms.create(key, kind, parent, labels or {}, finish)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self._mounts(sid, kind, parents)

    def mounts(self, key: str) -> list[Mount]:
        rec = self.ms.get(key)
        if rec.info.kind == Kind.COMMITTED:
            raise FailedPrecondition(f"snapshot {key} is committed: no mounts")
        return self._mounts(rec.id, rec.info.kind, self._chain(rec.info.parent))

    def commit(self, name: str, key: str, labels: dict | None = None) -> None:
        rec = self.ms.get(key)
        if rec.info.kind != Kind.ACTIVE:
            raise FailedPrecondition(f"snapshot {key} is not active")
        self.ms.commit(name, key, labels)

    def remove(self, key: str) -> None:
        rec = self.ms.get(key)
        path = self._dir(rec.id)
        doomed = os.path.join(self.root, "snapshots", f"rm-{rec.id}")

        def finish() -> None:
            if os.path.exists(path):
                os.rename(path, doomed)

        self.ms.remove(key, finish)
        shutil.rmtree(doomed, ignore_errors=True)

    def walk(self) -> Iterator[Info]:
        yield from self.ms.walk()

    def usage(self, key: str) -> Usage:
        return dir_usage(os.path.join(self._dir(self.ms.get(key).id), "fs"))

    def fs_dir(self, key: str) -> str:
        """The host directory holding ``key``'s own files (upperdir or full tree)."""
        return os.path.join(self._dir(self.ms.get(key).id), "fs")

    def parent_dirs(self, key: str) -> list[str]:
        """The ``fs`` directories of ``key``'s ancestors, top first."""
        return [os.path.join(self._dir(i), "fs") for i in self._chain(self.stat(key).parent)]

    def close(self) -> None:
        self.ms.close()

    # subclass hooks
    def _populate(self, fs: str, parents: list[int]) -> None:
        raise NotImplementedError

    def _mounts(self, sid: int, kind: Kind, parents: list[int]) -> list[Mount]:
        raise NotImplementedError


def not_found(key: str) -> NotFound:
    return NotFound(f"snapshot {key} does not exist: not found")
