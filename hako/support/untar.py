"""The one archive extractor: every tar that reaches the engine is unpacked here.

Layer apply (pull, load, import), the ``docker load`` archive itself, build contexts and
``ADD`` of a local tar all call :func:`extract` with the options they need. The rules are
the same for all of them:

- Entry names are cleaned (``hako.support.tarsafe.clean_name``); a name that climbs above
  the destination is refused.
- Parents are resolved inside the destination through file descriptors
  (``hako.support.fsroot``), with symlinks interpreted relative to it; nothing is ever
  opened, chmod-ed, chown-ed or utime-d through a symlink (``O_NOFOLLOW``, ``fchmod`` /
  ``fchown`` on descriptors, ``AT_SYMLINK_NOFOLLOW``). An existing entry is removed before
  it is replaced (except a directory replaced by a directory), so a file never writes
  through a symlink of the same name.
- A relative symlink target must not climb above the destination (Docker's rule; absolute
  targets mean the destination's root).
- A hardlink must point at an entry this extraction wrote (layers: or at anything already
  inside the destination or a lower layer); never at a directory, and the link never takes
  the header's mode or owner (it shares the target's inode).
- Whiteouts (layers only): ``.wh.NAME`` with NAME ``""``, ``.`` or ``..`` is refused;
  ``.wh..wh..opq`` marks its directory opaque; other ``.wh..wh.`` names are skipped.
- Device nodes and FIFOs are created, skipped or refused as the caller says.
- Limits: entry count and total bytes; a declared size over the limit is refused before
  anything is written (tar bombs, huge sparse files).

Errors are InvalidArgument naming the entry. Nothing stays half-written, because every
caller extracts into something it throws away on failure: layers into a fresh active
snapshot (``image.unpack`` removes it), load and build contexts into a private temporary
directory, ``ADD`` into the step's container layer (discarded when the step fails).

Layer 1. May import: errors, support.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from hako.errors import InvalidArgument
from hako.support import tarsafe
from hako.support.fsroot import Root

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
META_PREFIX = ".wh..wh."
OPAQUE_XATTR = "trusted.overlay.opaque"
# in a user namespace (rootless) trusted.* is out of reach: overlay's ``userxattr`` mount
# option and fuse-overlayfs read this one instead
USER_OPAQUE_XATTR = "user.overlay.opaque"
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
_XATTR_PAX = "SCHILY.xattr."
_CHUNK = 1 << 20
_STREAM_READ = 1 << 16  # tarfile's stream reads (default 10 KiB): fewer calls, small joins

# specials policy
CREATE, SKIP, REFUSE = "create", "skip", "refuse"


@dataclass
class Limits:
    """Caps on one extraction. ``max_entries`` None: no cap; ``max_bytes`` None: the space
    free on the destination's filesystem when the extraction starts (a declared size that
    cannot fit is refused before a byte of it is written: sparse-file bombs)."""

    max_entries: int | None = None
    max_bytes: int | None = None


@dataclass
class Options:
    """What a caller wants of an extraction.

    Attributes:
        whiteouts: None (``.wh.`` names are plain files), "delete" (the destination holds a
            whole filesystem: whiteouts delete) or "overlay" (the destination is an overlay
            upperdir: whiteouts become 0:0 char devices and the opaque xattr).
        lowerdirs: overlay lower directories, top first (hardlinks into lower layers).
        owner: "keep" (the header's uid/gid, as root), None (leave as created) or
            (uid, gid) applied to every entry.
        specials: device nodes and FIFOs: CREATE (as root), SKIP or REFUSE.
        xattrs: apply ``SCHILY.xattr.*`` headers (never ``trusted.overlay.*``).
        links_to_existing: hardlinks may target entries already in the destination.
        subdir: where entries go, relative to the destination (``ADD``: the destination
            is the container's root, so absolute symlinks mean that root, and the
            archive lands in the directory ``ADD`` names, as Docker's UntarWithRoot).
        on_entry: called with each member before it is written; may return a callable fed
            the bytes of a regular file's content (tarsum of build contexts).
        no_overwrite_dir_non_dir: refuse to replace a directory by a non-directory or the
            reverse (``docker cp``'s ``noOverwriteDirNonDir``, Docker's texts).
    """

    whiteouts: str | None = None
    lowerdirs: Sequence[str] = ()
    owner: Any = "keep"
    specials: str = SKIP
    xattrs: bool = False
    links_to_existing: bool = False
    limits: Limits = field(default_factory=Limits)
    subdir: str = ""
    on_entry: Callable[[tarfile.TarInfo], Callable[[bytes], Any] | None] | None = None
    no_overwrite_dir_non_dir: bool = False


@dataclass
class Result:
    size: int = 0  # bytes of regular files written
    entries: int = 0


def looks_like_tar(head: bytes) -> bool:
    """Whether the first 512 bytes of a file are a (possibly compressed) tar's."""
    if head.startswith((tarsafe.GZIP_MAGIC, tarsafe.BZIP2_MAGIC, tarsafe.XZ_MAGIC)):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def is_archive(path: str) -> bool:
    """Whether the regular file ``path`` is a tar archive whose first header reads (what
    ``ADD`` extracts: plain, gzip, bzip2 or xz)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, FIFO or device is not one
        os.close(fd)
        return False
    with os.fdopen(fd, "rb") as f:
        if not looks_like_tar(f.read(512)):
            return False
        f.seek(0)
        try:
            with tarfile.open(fileobj=tarsafe.decompressed(f), mode="r|") as tf:  # type: ignore[call-overload]
                return tf.next() is not None
        except (tarfile.TarError, OSError, EOFError):
            return False


def bad_entry(name: str, why: str) -> InvalidArgument:
    return tarsafe.breakout(name, why)


def extract(fileobj: BinaryIO, dest: str, opts: Options | None = None,
            compressed: bool = True) -> Result:
    """Unpack the tar stream ``fileobj`` into the existing directory ``dest``.

    Args:
        fileobj: the archive (plain, gzip, bzip2, xz or zstd when ``compressed``).
        dest: the destination directory.
        opts: see :class:`Options`.

    Raises:
        InvalidArgument: an unsafe or malformed entry, or a limit exceeded.
    """
    opts = opts or Options()
    if opts.whiteouts not in (None, "delete", "overlay"):
        raise ValueError(opts.whiteouts)
    stream = tarsafe.decompressed(fileobj) if compressed else fileobj
    with _Extractor(dest, opts) as ex:
        try:
            with tarfile.open(fileobj=stream, mode="r|", errorlevel=1,  # type: ignore[call-overload]
                              bufsize=_STREAM_READ) as tf:
                for member in tf:
                    ex.entry(tf, member)
        except tarfile.TarError as exc:
            raise InvalidArgument(f"invalid tar archive: {exc}") from exc
        except EOFError as exc:
            raise InvalidArgument("invalid tar archive: unexpected end of data") from exc
        except tarsafe.decompress_errors() as exc:
            raise InvalidArgument(f"invalid tar archive: corrupt compressed data: {exc}") from exc
        ex.finish()
        return ex.result


class _Extractor:
    def __init__(self, dest: str, opts: Options) -> None:
        self.root = Root(dest)
        self.opts = opts
        self.result = Result()
        self.max_bytes = opts.limits.max_bytes
        if self.max_bytes is None:
            vfs = os.statvfs(dest)
            self.max_bytes = vfs.f_bavail * vfs.f_frsize
        self.is_root = os.geteuid() == 0
        self.written: set[tuple[int, int]] = set()  # (dev, ino) of what this extraction made
        self.dir_times: list[tuple[str, int]] = []
        self._cache: tuple[str, int] | None = None  # last parent dir: (rel, fd)

    def __enter__(self) -> "_Extractor":
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop_cache()
        self.root.close()

    # -- parents ---------------------------------------------------------------------------
    def _drop_cache(self) -> None:
        if self._cache is not None:
            os.close(self._cache[1])
            self._cache = None

    def _parent(self, parent_rel: str, name: str) -> int:
        if self._cache is not None and self._cache[0] == parent_rel:
            return self._cache[1]
        self._drop_cache()
        fd = self.root.open_dir(parent_rel, create=True, entry=name)
        self._cache = (parent_rel, fd)
        return fd

    # -- one entry -------------------------------------------------------------------------
    def entry(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        res, lim = self.result, self.opts.limits
        res.entries += 1
        if lim.max_entries is not None and res.entries > lim.max_entries:
            raise InvalidArgument(f"archive has more than {lim.max_entries} entries")
        rel = tarsafe.clean_name(m.name)
        if not rel:
            return
        if self.opts.subdir:
            rel = f"{self.opts.subdir}/{rel}"
        parent_rel, _, base = rel.rpartition("/")
        if base == "..":
            raise bad_entry(m.name, "path escapes the root")
        if self.opts.whiteouts is not None and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(m.name, parent_rel, base)
            return
        if m.isreg() and res.size + m.size > self.max_bytes:
            raise InvalidArgument(f"invalid tar entry {m.name!r}: {m.size} bytes do not fit in "
                                  f"the {self.max_bytes - res.size} bytes left for this archive")
        if (m.ischr() or m.isblk() or m.isfifo()) and not self._special_allowed(m):
            return
        hook = self.opts.on_entry(m) if self.opts.on_entry else None
        pfd = self._parent(parent_rel, m.name)
        existing = Root.lstat_at(pfd, base)
        if existing is not None and self.opts.no_overwrite_dir_non_dir:
            if stat.S_ISDIR(existing.st_mode) and not m.isdir():
                raise InvalidArgument(f"cannot overwrite directory {'/' + rel!r} with "
                                      f"non-directory {m.name!r}".replace("'", '"'))
            if not stat.S_ISDIR(existing.st_mode) and m.isdir():
                raise InvalidArgument(f"cannot overwrite non-directory {'/' + rel!r} with "
                                      f"directory {m.name!r}".replace("'", '"'))
        if existing is not None and not (m.isdir() and stat.S_ISDIR(existing.st_mode)):
            Root.remove_at(pfd, base)
            existing = None
        if m.isreg():
            self._file(tf, m, pfd, base, hook)
        elif m.isdir():
            self._dir(m, pfd, base, rel, existing)
        elif m.issym():
            self._symlink(m, pfd, base)
            self._drop_cache()  # the new link may be a component of the cached parent's path
        elif m.islnk():
            self._hardlink(m, pfd, base)
        elif m.ischr() or m.isblk() or m.isfifo():
            self._special(m, pfd, base)
        else:
            log.debug("skipping tar entry %s of type %r", m.name, m.type)

    def _special_allowed(self, m: tarfile.TarInfo) -> bool:
        policy = self.opts.specials
        if policy == REFUSE:
            kind = "FIFO" if m.isfifo() else "device node"
            raise bad_entry(m.name, f"{kind}s are not allowed here")
        if policy == CREATE and (self.is_root or m.isfifo()):
            return True
        log.debug("skipping special file %s", m.name)
        return False

    # -- creators (each acts on (pfd, base) only) -----------------------------------------
    def _file(self, tf: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, base: str,
              hook: Callable[[bytes], Any] | None) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=pfd)
        try:
            # a plain member's data is the next m.size bytes of the stream (tarfile's
            # next() skips the padding): read it there, without extractfile's extra buffer
            src = tf.fileobj if m.sparse is None else tf.extractfile(m)  # type: ignore[attr-defined]
            if src is not None:
                left = m.size
                while left > 0:
                    chunk = src.read(min(_CHUNK, left))
                    if not chunk:
                        raise InvalidArgument(f"invalid tar entry {m.name!r}: unexpected end of data")
                    left -= len(chunk)
                    if hook is not None:
                        hook(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
            self.result.size += m.size
            self._attrs_fd(m, fd)
            os.utime(fd, (m.mtime, m.mtime))
            self._mark(fd)
        finally:
            os.close(fd)

    def _dir(self, m: tarfile.TarInfo, pfd: int, base: str, rel: str,
             existing: os.stat_result | None) -> None:
        if existing is None:
            os.mkdir(base, 0o700, dir_fd=pfd)
        fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._attrs_fd(m, fd)
            self._mark(fd)
        finally:
            os.close(fd)
        self.dir_times.append((rel, int(m.mtime)))

    def _symlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        tarsafe.check_symlink_target(m.name, m.linkname)
        os.symlink(m.linkname, base, dir_fd=pfd)
        self._owner_at(m, pfd, base)
        _utime_at(pfd, base, m.mtime)
        st = Root.lstat_at(pfd, base)
        if st is not None:
            self.written.add((st.st_dev, st.st_ino))

    def _hardlink(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        target_rel = tarsafe.clean_name(m.linkname)
        if not target_rel:
            raise bad_entry(m.name, "hardlink to the root")
        if self.opts.subdir:
            target_rel = f"{self.opts.subdir}/{target_rel}"
        try:
            tpfd, tbase = self.root.parent(target_rel, entry=m.name)
        except FileNotFoundError:
            tpfd, tbase = -1, ""
        try:
            st = Root.lstat_at(tpfd, tbase) if tpfd >= 0 else None
            if st is not None:
                if stat.S_ISDIR(st.st_mode):
                    raise bad_entry(m.name, f"hardlink to directory {m.linkname!r}")
                if (st.st_dev, st.st_ino) not in self.written and not self.opts.links_to_existing:
                    raise bad_entry(m.name, f"hardlink target {m.linkname!r} is not in the archive")
                os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
                return
        finally:
            if tpfd >= 0:
                os.close(tpfd)
        for lower in self.opts.lowerdirs:
            if self._copy_from_lower(lower, target_rel, m.name, pfd, base):
                return
        raise bad_entry(m.name, f"hardlink target {m.linkname!r} not found")

    def _copy_from_lower(self, lower: str, rel: str, name: str, pfd: int, base: str) -> bool:
        """A hardlink whose target is in a lower layer: copy it up (overlay cannot link
        across layers), never following a link."""
        with Root(lower) as low:
            try:
                sfd = low.lookup(rel, follow=False, entry=name)
            except (FileNotFoundError, InvalidArgument):
                return False
            try:
                st = os.fstat(sfd)
                if stat.S_ISLNK(st.st_mode):
                    dfd, dname = low.parent(rel, entry=name)
                    try:
                        os.symlink(os.readlink(dname, dir_fd=dfd), base, dir_fd=pfd)
                    finally:
                        os.close(dfd)
                    return True
                if not stat.S_ISREG(st.st_mode):
                    raise bad_entry(name, "hardlink to a lower entry that is not a file")
                with open(f"/proc/self/fd/{sfd}", "rb") as src:
                    fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o600, dir_fd=pfd)
                    with os.fdopen(fd, "wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
                        if self.is_root:
                            os.fchown(out.fileno(), st.st_uid, st.st_gid)
                        os.fchmod(out.fileno(), stat.S_IMODE(st.st_mode))
                        out.flush()
                        os.utime(out.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
                return True
            finally:
                os.close(sfd)

    def _special(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        if m.isfifo():
            os.mkfifo(base, 0o600, dir_fd=pfd)
        else:
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        fd = os.open(base, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self._owner_at(m, pfd, base)
            Root.chmod_fd(fd, m.mode & 0o7777)
            self._xattrs(m, f"/proc/self/fd/{fd}")
            self._mark(fd)
        finally:
            os.close(fd)
        _utime_at(pfd, base, m.mtime)

    # -- whiteouts -------------------------------------------------------------------------
    def _whiteout(self, name: str, parent_rel: str, base: str) -> None:
        if base == OPAQUE:
            pfd = self._parent(parent_rel, name)
            if self.opts.whiteouts == "overlay":
                fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
                try:
                    try:
                        os.setxattr(fd, OPAQUE_XATTR, b"y")
                    except PermissionError:  # not root of the host: rootless hakod
                        os.setxattr(fd, USER_OPAQUE_XATTR, b"y")
                finally:
                    os.close(fd)
                return
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
            try:
                children = os.listdir(fd)
            finally:
                os.close(fd)
            for child in children:
                st = Root.lstat_at(pfd, child)
                if st is not None and (st.st_dev, st.st_ino) not in self.written:
                    Root.remove_at(pfd, child)
            self._drop_cache()
            return
        if base.startswith(META_PREFIX):
            return
        target = base[len(WHITEOUT_PREFIX):]
        if target in ("", ".", ".."):
            raise bad_entry(name, "invalid whiteout name")
        pfd = self._parent(parent_rel, name)
        st = Root.lstat_at(pfd, target)
        Root.remove_at(pfd, target)
        if st is not None and (stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            self._drop_cache()
            pfd = self._parent(parent_rel, name)
        if self.opts.whiteouts == "overlay":
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)

    # -- attributes ------------------------------------------------------------------------
    def _owner(self, m: tarfile.TarInfo) -> tuple[int, int] | None:
        owner = self.opts.owner
        if owner == "keep":
            return (m.uid, m.gid) if self.is_root else None
        return owner

    def _attrs_fd(self, m: tarfile.TarInfo, fd: int) -> None:
        """Owner, then mode (chown clears set-id bits), then xattrs, on a real descriptor."""
        owner = self._owner(m)
        if owner is not None:
            try:
                os.fchown(fd, owner[0], owner[1])
            except OSError as exc:
                log.debug("fchown %s: %s", m.name, exc)
        os.fchmod(fd, m.mode & 0o7777)
        self._xattrs(m, fd)

    def _owner_at(self, m: tarfile.TarInfo, pfd: int, base: str) -> None:
        owner = self._owner(m)
        if owner is not None:
            try:
                os.chown(base, owner[0], owner[1], dir_fd=pfd, follow_symlinks=False)
            except OSError as exc:
                log.debug("lchown %s: %s", m.name, exc)

    def _xattrs(self, m: tarfile.TarInfo, target: Any) -> None:
        if not self.opts.xattrs:
            return
        for key, value in (m.pax_headers or {}).items():
            if not key.startswith(_XATTR_PAX):
                continue
            name = key[len(_XATTR_PAX):]
            if name.startswith(OVERLAY_XATTR_PREFIXES):
                continue  # overlay's own metadata comes from whiteouts, never from a header
            try:
                os.setxattr(target, name, value.encode("utf-8", "surrogateescape"))
            except OSError as exc:
                log.debug("setxattr %s %s: %s", m.name, name, exc)

    def _mark(self, fd: int) -> None:
        st = os.fstat(fd)
        self.written.add((st.st_dev, st.st_ino))

    def finish(self) -> None:
        """Directory times last (children changed them), deepest first."""
        self._drop_cache()
        for rel, mtime in reversed(self.dir_times):
            try:
                pfd, base = self.root.parent(rel)
            except (FileNotFoundError, InvalidArgument):
                continue
            try:
                _utime_at(pfd, base, mtime)
            finally:
                os.close(pfd)


def _utime_at(pfd: int, base: str, mtime: float) -> None:
    try:
        os.utime(base, (mtime, mtime), dir_fd=pfd, follow_symlinks=False)
    except OSError:
        pass
