"""Apply a layer tar to a snapshot directory (whiteouts, opaque dirs, links, devices).

Two whiteout formats:

- ``"delete"``: the directory holds the full filesystem (native snapshotter, or an overlay
  snapshot without parent); ``.wh.name`` deletes ``name``, ``.wh..wh..opq`` empties the
  directory of everything this layer did not add.
- ``"overlay"``: the directory is an overlay upperdir; ``.wh.name`` becomes a 0:0 character
  device and ``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` xattr (as Docker's overlay2).

Entries that escape the root are refused with InvalidArgument naming the entry (see
``hako.support.tarsafe``). The caller removes the partially written snapshot on failure.

Layer 3. May import: errors, support, oci.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tarfile
from collections.abc import Sequence
from typing import BinaryIO

from hako.errors import InvalidArgument
from hako.oci.digest import Digest, Digester
from hako.support import tarsafe

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
META_PREFIX = ".wh..wh."
OPAQUE_XATTR = "trusted.overlay.opaque"


class _HashingReader:
    """Reads through ``inner`` and hashes every byte (the layer's diff id)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.digester = Digester()

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.digester.update(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def apply_layer(
    root: str,
    fileobj: BinaryIO,
    whiteouts: str = "delete",
    lowerdirs: Sequence[str] = (),
) -> tuple[Digest, int]:
    """Unpack a (plain, gzip or zstd) layer tar into ``root``.

    Args:
        root: the snapshot directory to write (must exist).
        fileobj: the layer stream.
        whiteouts: "delete" or "overlay" (see the module docstring).
        lowerdirs: for "overlay", the lower directories (top first), used for hardlinks
            whose target lives in a lower layer.

    Returns:
        (diff id of the uncompressed tar, total size of the regular files written).

    Raises:
        InvalidArgument: an entry escapes the root, or the tar is malformed.
    """
    reader = _HashingReader(tarsafe.decompressed(fileobj))
    applier = _Applier(os.path.realpath(root), whiteouts, lowerdirs)
    try:
        with tarfile.open(fileobj=reader, mode="r|", errorlevel=1) as tf:  # type: ignore[call-overload]
            for member in tf:
                applier.apply(tf, member)
        reader.drain()
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid layer tar: {exc}") from exc
    applier.finish()
    return reader.digester.digest(), applier.size


class _Applier:
    def __init__(self, root: str, whiteouts: str, lowerdirs: Sequence[str]) -> None:
        if whiteouts not in ("delete", "overlay"):
            raise ValueError(whiteouts)
        self.root = root
        self.overlay = whiteouts == "overlay"
        self.lowerdirs = list(lowerdirs)
        self.added: set[str] = set()
        self.dir_times: list[tuple[str, tarfile.TarInfo]] = []
        self.size = 0
        self.is_root = os.geteuid() == 0

    def apply(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rel = tarsafe.clean_name(m.name)
        if not rel:
            return
        base = os.path.basename(rel)
        parent_rel = os.path.dirname(rel)
        parent = tarsafe.resolve(self.root, parent_rel, m.name, follow_final=True)
        if not os.path.isdir(parent):
            if os.path.lexists(parent):
                raise tarsafe.breakout(m.name, "parent is not a directory")
            os.makedirs(parent, 0o755, exist_ok=True)
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, parent_rel, base)
            return
        path = os.path.join(parent, base)
        self._replace(path, m)
        self._create(tf, m, path, rel)
        self.added.add(rel)
        self._set_attrs(m, path)

    def _whiteout(self, parent: str, parent_rel: str, base: str) -> None:
        if base == OPAQUE:
            if self.overlay:
                os.setxattr(parent, OPAQUE_XATTR, b"y")
                return
            for child in os.listdir(parent):
                if os.path.join(parent_rel, child) not in self.added:
                    _remove(os.path.join(parent, child))
            return
        if base.startswith(META_PREFIX):
            return
        target = os.path.join(parent, base[len(WHITEOUT_PREFIX):])
        _remove(target)
        if self.overlay:
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))

    def _replace(self, path: str, m: tarfile.TarInfo) -> None:
        if not os.path.lexists(path):
            return
        if m.isdir() and os.path.isdir(path) and not os.path.islink(path):
            return
        _remove(path)

    def _create(self, tf: tarfile.TarFile, m: tarfile.TarInfo, path: str, rel: str) -> None:
        if m.isreg():
            src = tf.extractfile(m)
            with open(path, "wb") as out:
                if src is not None:
                    shutil.copyfileobj(src, out, 1 << 20)
            self.size += m.size
        elif m.isdir():
            if not os.path.isdir(path):
                os.mkdir(path, 0o755)
        elif m.issym():
            tarsafe.check_symlink_target(m.name, m.linkname)
            os.symlink(m.linkname, path)
        elif m.islnk():
            self._hardlink(m, path)
        elif m.ischr() or m.isblk():
            if not tarsafe.can_mknod():
                log.debug("skipping device node %s (not root)", m.name)
                return
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(path, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
        elif m.isfifo():
            os.mkfifo(path, m.mode & 0o7777)
        else:
            log.debug("skipping tar entry %s of type %r", m.name, m.type)

    def _hardlink(self, m: tarfile.TarInfo, path: str) -> None:
        target_rel = tarsafe.clean_name(m.linkname)
        if not target_rel:
            raise tarsafe.breakout(m.name, "hardlink to the root")
        target = tarsafe.resolve(self.root, target_rel, m.name)
        if os.path.lexists(target):
            os.link(target, path, follow_symlinks=False)
            return
        for lower in self.lowerdirs:
            candidate = tarsafe.resolve(lower, target_rel, m.name)
            if os.path.lexists(candidate):
                shutil.copy2(candidate, path, follow_symlinks=False)
                return
        raise tarsafe.breakout(m.name, f"hardlink target {m.linkname!r} not found")

    def _set_attrs(self, m: tarfile.TarInfo, path: str) -> None:
        if m.islnk():  # a hardlink shares the target's inode and attributes
            return
        if self.is_root:
            try:
                os.chown(path, m.uid, m.gid, follow_symlinks=False)
            except OSError as exc:
                log.debug("lchown %s: %s", path, exc)
        for key, value in (m.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                _setxattr(path, key[len("SCHILY.xattr."):], value)
        if m.issym():
            _utime(path, m.mtime)
            return
        if not (m.ischr() or m.isblk()) or tarsafe.can_mknod():
            if os.path.lexists(path):
                os.chmod(path, m.mode & 0o7777)
        if m.isdir():
            self.dir_times.append((path, m))
        elif os.path.lexists(path):
            _utime(path, m.mtime)

    def finish(self) -> None:
        for path, m in reversed(self.dir_times):
            _utime(path, m.mtime)


def _utime(path: str, mtime: float) -> None:
    try:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    except OSError:
        pass


def _setxattr(path: str, name: str, value: str) -> None:
    data = value.encode("utf-8", "surrogateescape")
    try:
        os.setxattr(path, name, data, follow_symlinks=False)
    except OSError as exc:
        log.debug("setxattr %s %s: %s", path, name, exc)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
