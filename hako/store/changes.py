"""Filesystem changes and layer production: the reverse of ``hako.store.diff``.

- ``overlay_changes(upper, lowers)`` / ``dir_changes(parent, child)``: Docker's A/C/D list.
- ``write_layer(changes, child_root, out)``: a layer tar of the changes, whiteouts as
  ``.wh.<name>`` files and opaque directories as ``.wh..wh..opq`` (AUFS format, as in
  every Docker layer). Overlay whiteouts (0:0 char devices) and ``trusted.overlay.opaque``
  in an upperdir are converted on the way.
- ``write_tree(root, out)``: a tar of a whole directory (``docker export``).

Tars are deterministic: entries in sorted path order (a directory before its content),
numeric uid/gid with empty user and group names, no atime/ctime, xattrs sorted by name,
and Go's ending (two zero blocks, no padding to a 10 KiB record), so an empty layer is the
well-known 1024-byte tar. With ``clamp_mtime`` (SOURCE_DATE_EPOCH) no mtime is later than
it: the same changes give the same layer digest.

Layer 3. May import: errors, support, oci.
"""

from __future__ import annotations

import enum
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from hako.store.diff import OPAQUE, OPAQUE_XATTR, WHITEOUT_PREFIX
from hako.support import tarwrite, untar
from hako.support.untar import USER_OPAQUE_XATTR


class Kind(enum.IntEnum):
    """Docker's change kinds (the ``Kind`` field of /containers/{id}/changes)."""

    MODIFIED = 0
    ADDED = 1
    DELETED = 2


@dataclass(frozen=True)
class Change:
    path: str  # absolute inside the container, e.g. "/tmp/x"
    kind: Kind
    opaque: bool = False  # an overlay opaque directory (its lower content is hidden)

    def to_json(self) -> dict:
        return {"Path": self.path, "Kind": int(self.kind)}


def walk(root: str) -> list[str]:
    """Every relative path under ``root`` in depth-first sorted order."""
    out: list[str] = []

    def visit(rel: str) -> None:
        for name in sorted(os.listdir(os.path.join(root, rel))):
            child = os.path.join(rel, name) if rel else name
            out.append(child)
            full = os.path.join(root, child)
            if os.path.isdir(full) and not os.path.islink(full):
                visit(child)

    visit("")
    return out


def _is_whiteout_dev(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _is_opaque(path: str) -> bool:
    for name in (OPAQUE_XATTR, USER_OPAQUE_XATTR):  # the second: rootless (userxattr)
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


def overlay_changes(upper: str, lowers: Sequence[str]) -> list[Change]:
    """Changes recorded in an overlay upperdir relative to its lower dirs (top first)."""
    out: list[Change] = []
    hidden: list[str] = []
    for rel in walk(upper):
        if any(rel.startswith(h + "/") for h in hidden):
            continue
        full = os.path.join(upper, rel)
        st = os.lstat(full)
        if _is_whiteout_dev(st):
            out.append(Change("/" + rel, Kind.DELETED))
            continue
        exists_below = any(os.path.lexists(os.path.join(low, rel)) for low in lowers)
        opaque = stat.S_ISDIR(st.st_mode) and _is_opaque(full)
        out.append(Change("/" + rel, Kind.MODIFIED if exists_below else Kind.ADDED, opaque))
    return out


def _differs(a: os.stat_result, b: os.stat_result, pa: str, pb: str) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return True
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return True
    if stat.S_ISDIR(a.st_mode):
        return int(a.st_mtime) != int(b.st_mtime)
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) != os.readlink(pb)
    if a.st_size != b.st_size or a.st_mtime_ns != b.st_mtime_ns:
        return True
    return a.st_rdev != b.st_rdev


def dir_changes(parent: str | None, child: str) -> list[Change]:
    """Changes from a full ``parent`` tree to a full ``child`` tree (native snapshots)."""
    out: list[Change] = []
    child_paths = walk(child)
    child_set = set(child_paths)
    for rel in child_paths:
        pc = os.path.join(child, rel)
        pp = os.path.join(parent, rel) if parent else None
        if pp is None or not os.path.lexists(pp):
            out.append(Change("/" + rel, Kind.ADDED))
        elif _differs(os.lstat(pp), os.lstat(pc), pp, pc):
            out.append(Change("/" + rel, Kind.MODIFIED))
    if parent:
        deleted_dirs: list[str] = []
        for rel in walk(parent):
            if rel in child_set or any(rel.startswith(d + "/") for d in deleted_dirs):
                continue
            out.append(Change("/" + rel, Kind.DELETED))
            deleted_dirs.append(rel)
    out.sort(key=lambda c: c.path)
    return out


def _tarinfo(full: str, arcname: str, st: os.stat_result,
             clamp_mtime: int | None = None) -> tarfile.TarInfo | None:
    info = tarwrite.entry(arcname, st, os.readlink(full) if stat.S_ISLNK(st.st_mode) else "")
    if info is None:
        return None  # sockets are not archived
    if clamp_mtime is not None and info.mtime > clamp_mtime:
        info.mtime = clamp_mtime
    xattrs = _xattrs(full)
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": xattrs[k] for k in sorted(xattrs)}
    return info


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith(untar.OVERLAY_XATTR_PREFIXES) or name == "system.nfs4_acl":
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False).decode(
                "utf-8", "surrogateescape"
            )
        except OSError:
            continue
    return out


IdMap = Callable[[int, int], tuple[int, int]]  # (uid, gid) on disk -> (uid, gid) in the tar


class _TarWriter(tarwrite.Writer):
    """``support.tarwrite``'s writer, adding files by path with the mtime clamp and the
    owner map of a layer."""

    def __init__(self, out: BinaryIO, clamp_mtime: int | None = None, ids: IdMap | None = None
                 ) -> None:
        super().__init__(out)
        self.clamp = clamp_mtime
        self.ids = ids

    def add(self, full: str, arcname: str) -> None:
        st = os.lstat(full)
        info = _tarinfo(full, arcname, st, self.clamp)
        if info is None:
            return
        if self.ids is not None:
            info.uid, info.gid = self.ids(info.uid, info.gid)
        first = self.first_link(st, arcname)
        if first:
            self.link(info, first)
        elif not info.isreg():
            self.header(info)
        else:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                self.header(info)
                self.data(fd, info.size)
            finally:
                os.close(fd)

    def add_empty(self, arcname: str) -> None:
        info = tarfile.TarInfo(arcname)
        info.uname = info.gname = ""
        info.mode = 0o644
        if self.clamp is not None:
            info.mtime = min(info.mtime, self.clamp)
        self.header(info)


def write_layer(changes: Iterable[Change], root: str, out: BinaryIO,
                clamp_mtime: int | None = None, ids: IdMap | None = None) -> None:
    """Write a layer tar for ``changes``, reading added/modified entries from ``root``.

    Args:
        changes: the change list (overlay or dir changes).
        root: where current content lives (the upperdir, or the child tree).
        out: destination stream; not closed.
        clamp_mtime: SOURCE_DATE_EPOCH: later mtimes are written as this value.
        ids: maps each entry's (uid, gid) as found on disk to what the tar records.
    """
    writer = _TarWriter(out, clamp_mtime, ids)
    for ch in sorted(changes, key=lambda c: c.path):
        rel = ch.path.lstrip("/")
        if ch.kind == Kind.DELETED:
            head, name = os.path.split(rel)
            writer.add_empty(os.path.join(head, WHITEOUT_PREFIX + name))
            continue
        full = os.path.join(root, rel)
        if not os.path.lexists(full):
            continue
        writer.add(full, rel)
        if ch.opaque:
            writer.add_empty(os.path.join(rel, OPAQUE))
    writer.end()


def write_tree(root: str, out: BinaryIO, ids: IdMap | None = None) -> None:
    """Write a tar of the whole tree under ``root`` (paths relative, no leading ``./``)."""
    writer = _TarWriter(out, ids=ids)
    for rel in walk(root):
        writer.add(os.path.join(root, rel), rel)
    writer.end()
