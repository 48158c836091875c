"""Copy a directory tree between two open directories, through descriptors only.

``copy_tree(src_fd, dst_fd)`` copies what is inside ``src_fd`` into the (empty) directory
``dst_fd`` as ``cp -a`` does: owners, modes, extended attributes, access and modification
times, hard links within the tree, symlinks as symlinks, device nodes, FIFOs and sockets,
and holes of sparse files. It is moby's copy-up of an image's ``VOLUME`` content (continuity
``fs.CopyDir``), done by the kernel: file data moves with ``copy_file_range`` (or
``sendfile`` where the kernel refuses a copy across filesystems, as from overlayfs), so
Python never touches the bytes.

Safety: every source entry is opened relative to its parent's descriptor with
``O_NOFOLLOW`` and checked with ``fstat`` before it is read, and every destination entry is
created relative to a descriptor this copy made (``O_EXCL``, ``O_NOFOLLOW``,
``AT_SYMLINK_NOFOLLOW``), so a symlink on either side is copied or refused, never followed
out of either root, even if the destination is changed while the copy runs. New files are
created 0600 and directories 0700 and get their modes only once their owner is set.

Layer 1. May import: errors.
"""

from __future__ import annotations

import collections
import errno
import os
import stat
from typing import Any, Callable

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_SKIP = (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.EINVAL)
_CHUNK = 1 << 30
_THREADED = 256 << 10  # files from this size are filled by a worker thread
MAX_HELD_LINKS = 1024  # descriptors kept for hard links; beyond, further links are copies


class _Copy:
    """One tree copy: the hard links seen so far, whether copy_file_range works, and the
    threads that move the data of large files (the kernel copies without the GIL, so a
    second CPU halves the time of a tree of large files)."""

    def __init__(self, workers: int) -> None:
        self.links: dict[tuple[int, int], int] = {}  # (dev, ino) -> O_PATH fd of the copy
        self.use_cfr = True
        self.pool: Any = None
        self.workers = workers
        self.pending: collections.deque = collections.deque()

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on a worker (at most 2 per worker queued: each holds descriptors)."""
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="treecopy")
        while len(self.pending) >= 2 * self.workers:
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(fn))

    def close(self, quiet: bool = False) -> None:
        """Wait for every queued fill (each closes its descriptors), then release the rest;
        raise the first worker error unless ``quiet`` (an error is already on its way)."""
        first: BaseException | None = None
        while self.pending:
            try:
                self.pending.popleft().result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                first = first or exc
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        for fd in self.links.values():
            os.close(fd)
        self.links.clear()
        if first is not None and not quiet:
            raise first


def copy_tree(src_fd: int, dst_fd: int, workers: int | None = None) -> None:
    """Copy the entries of directory ``src_fd`` into directory ``dst_fd`` (see the module
    docstring); the two directories' own attributes are left alone (``copy_attrs``).
    ``workers`` threads copy the data of large files (default: one per CPU, at most 4).

    Raises:
        OSError: an entry could not be read or created (nothing is rolled back).
    """
    cp = _Copy(workers if workers is not None else min(4, os.cpu_count() or 1))
    # an explicit stack instead of recursion: an image's tree may be deeper than Python's
    # recursion limit. Each frame: (src dir fd, dst dir fd, pending names, attrs to set).
    stack: list[tuple[int, int, list[os.DirEntry], os.stat_result | None]] = []
    try:
        stack.append((os.dup(src_fd), os.dup(dst_fd), _entries(src_fd), None))
        while stack:
            sfd, dfd, pending, st = stack[-1]
            if pending:
                child = _copy_entry(cp, sfd, dfd, pending.pop().name)
                if child is not None:
                    stack.append(child)
                continue
            stack.pop()
            try:
                if st is not None:
                    copy_attrs(sfd, dfd, st)
            finally:
                os.close(sfd)
                os.close(dfd)
    except BaseException:
        cp.close(quiet=True)
        raise
    finally:
        for sfd, dfd, _pending, _st in stack:
            os.close(sfd)
            os.close(dfd)
    cp.close()


def _entries(fd: int) -> list[os.DirEntry]:
    with os.scandir(fd) as it:
        return list(it)


def _copy_entry(cp: _Copy, sfd: int, dfd: int, name: str) -> tuple | None:
    """Copy one entry; a directory is made and returned as a new stack frame."""
    st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        child = os.open(name, _DIR, dir_fd=sfd)
        try:
            _same(child, st)
            os.mkdir(name, 0o700, dir_fd=dfd)
            out = os.open(name, _DIR, dir_fd=dfd)
        except BaseException:
            os.close(child)
            raise
        return child, out, _entries(child), st
    if st.st_nlink > 1 and _link(cp, st, dfd, name):
        return None
    if stat.S_ISREG(mode):
        _copy_file(cp, sfd, dfd, name, st)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
        _special_attrs(sfd, dfd, name, st)
    else:  # FIFO, socket, character or block device
        os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dfd)
        _special_attrs(sfd, dfd, name, st)
    if st.st_nlink > 1:
        _remember(cp, st, dfd, name)
    return None


def _same(fd: int, st: os.stat_result) -> os.stat_result:
    """The opened entry is the one looked at (not swapped since)."""
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or stat.S_IFMT(now.st_mode) != stat.S_IFMT(st.st_mode):
        raise OSError(errno.ESTALE, "entry changed during the copy")
    return now


def _copy_file(cp: _Copy, sfd: int, dfd: int, name: str, st: os.stat_result) -> None:
    """Made here (the directory's entries change in this thread only), filled here or,
    when large, by a worker."""
    src = os.open(name, _READ, dir_fd=sfd)
    try:
        _same(src, st)
        out = os.open(name, _CREATE, 0o600, dir_fd=dfd)
    except BaseException:
        os.close(src)
        raise

    def fill() -> None:
        try:
            copy_data(cp, src, out, st.st_size)
            copy_attrs(src, out, st)
        finally:
            os.close(out)
            os.close(src)
    if cp.workers > 1 and st.st_size >= _THREADED:
        cp.submit(fill)
    else:
        fill()


def copy_data(cp: _Copy | None, src: int, out: int, size: int) -> None:
    """The bytes of ``src`` into the empty file ``out``, by the kernel, holes kept."""
    if size == 0:
        return
    pos = 0
    while pos < size:
        try:
            start = os.lseek(src, pos, os.SEEK_DATA)
            end = min(os.lseek(src, start, os.SEEK_HOLE), size)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole from pos on
                break
            if exc.errno != errno.EINVAL:  # SEEK_DATA unsupported: one extent
                raise
            start, end = pos, size
        _copy_range(cp, src, out, start, end)
        pos = end
    if os.fstat(out).st_size != size:
        os.ftruncate(out, size)  # a trailing hole


def _copy_range(cp: _Copy | None, src: int, out: int, start: int, end: int) -> None:
    off = start
    while off < end:
        n = 0
        if cp is None or cp.use_cfr:
            try:
                n = os.copy_file_range(src, out, min(end - off, _CHUNK), off, off)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
                if cp is not None:
                    cp.use_cfr = False
        if not n:
            os.lseek(out, off, os.SEEK_SET)
            n = os.sendfile(out, src, off, min(end - off, _CHUNK))
        if n <= 0:
            raise OSError(errno.EIO, "the source file shrank during the copy")
        off += n


def copy_attrs(src: int, out: int, st: os.stat_result) -> None:
    """Owner, then mode (chown clears set-id bits), extended attributes and times, from
    ``src`` onto ``out`` (both open descriptors, not O_PATH)."""
    os.fchown(out, st.st_uid, st.st_gid)
    os.fchmod(out, stat.S_IMODE(st.st_mode))
    _xattrs(src, out)
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))


def _xattrs(src, out, follow: bool = True) -> None:
    try:
        names = os.listxattr(src, follow_symlinks=follow)
    except OSError as exc:
        if exc.errno in _XATTR_SKIP:
            return
        raise
    for key in names:
        try:
            os.setxattr(out, key, os.getxattr(src, key, follow_symlinks=follow),
                        follow_symlinks=follow)
        except OSError as exc:
            if exc.errno not in _XATTR_SKIP + (errno.ENODATA,):
                raise


def _special_attrs(sfd: int, dfd: int, name: str, st: os.stat_result) -> None:
    """Attributes of an entry that cannot be opened for them (symlink, device, FIFO):
    through ``/proc/self/fd/<dir>/<name>`` without following the final component."""
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(st.st_mode))
        finally:
            os.close(fd)
    _xattrs(f"/proc/self/fd/{sfd}/{name}", f"/proc/self/fd/{dfd}/{name}", follow=False)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dfd, follow_symlinks=False)


def _link(cp: _Copy, st: os.stat_result, dfd: int, name: str) -> bool:
    """A further name of an inode already copied: a hard link to the copy."""
    held = cp.links.get((st.st_dev, st.st_ino))
    if held is None:
        return False
    os.link(f"/proc/self/fd/{held}", name, dst_dir_fd=dfd, follow_symlinks=True)
    return True


def _remember(cp: _Copy, st: os.stat_result, dfd: int, name: str) -> None:
    if len(cp.links) < MAX_HELD_LINKS:
        cp.links[(st.st_dev, st.st_ino)] = os.open(
            name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
