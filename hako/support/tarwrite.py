"""Streaming tar output: the one writer behind ``docker cp`` (GET), layers and ``docker export``.

``Writer(out)`` writes entries as they come, never seeking:

- ``header(info)``: a PAX header (names and link targets in utf-8 with surrogateescape, so
  the bytes of a non-utf-8 file name survive), as Go's archive/tar writes them;
- ``data(fd, size)``: ``size`` bytes of the open file ``fd`` (from offset 0), copied by
  ``os.sendfile`` when ``out`` writes straight to a descriptor (a file object of ``io``'s own
  types), by ``pread`` and ``write`` otherwise; zeros stand in for what a file lost while
  being archived, then padding to a 512-byte block;
- ``end()``: two zero blocks, Go's ending (no padding to a 10 KiB record), so an empty
  archive is the well-known 1024-byte tar.

``entry(arcname, st, linkname)`` builds the ``TarInfo`` of a stat result (numeric owners,
empty user and group names, integer mtime, no atime/ctime); ``Writer.first_link`` tracks
hard links so a file's later names become link entries. What to archive, in which order and
how it is reached (descriptors or paths) stays with the callers.

Layer 1. May import: nothing.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from typing import BinaryIO

BLOCK = tarfile.BLOCKSIZE
_CHUNK = 1 << 20
# sendfile refusing this pair of descriptors (an O_APPEND output, a source without
# splice_read): copy through user space instead
_NO_SENDFILE = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


def entry(arcname: str, st: os.stat_result, linkname: str = "") -> tarfile.TarInfo | None:
    """The header of a file whose ``lstat`` is ``st`` (``linkname``: a symlink's target);
    None for a socket, which is not archived (as Docker's archiver)."""
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, linkname
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None
    return info


def _direct_fd(out: BinaryIO) -> int | None:
    """The descriptor ``out.write`` lands in, when sendfile may bypass ``out``: only for
    ``io``'s own file types (a wrapper delegating ``fileno`` may transform what it writes)."""
    if not isinstance(out, (io.FileIO, io.BufferedWriter, io.BufferedRandom)):
        return None
    try:
        return out.fileno()
    except (OSError, ValueError):
        return None


class Writer:
    """Writes tar entries to ``out`` (not closed; see the module docstring)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self._fd = _direct_fd(out)
        self._names: dict[tuple[int, int], str] = {}

    def first_link(self, st: os.stat_result, arcname: str) -> str:
        """The name under which this regular file (with more than one link) was archived
        before, or "" (and ``arcname`` is remembered for its other names)."""
        if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
            return ""
        key = (st.st_dev, st.st_ino)
        first = self._names.get(key, "")
        if not first:
            self._names[key] = arcname
        return first

    def header(self, info: tarfile.TarInfo) -> None:
        self.out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def data(self, fd: int, size: int) -> None:
        """``size`` bytes of file ``fd`` from its start (zeros past a shrunk end), padded."""
        done = self._sendfile(fd, size)
        while done < size:
            chunk = os.pread(fd, min(size - done, _CHUNK), done)
            if not chunk:  # the file shrank while being archived
                chunk = b"\0" * min(size - done, _CHUNK)
            self.out.write(chunk)
            done += len(chunk)
        if size % BLOCK:
            self.out.write(b"\0" * (BLOCK - size % BLOCK))

    def _sendfile(self, fd: int, size: int) -> int:
        """Copy by the kernel; how much was copied (less than ``size`` if the file shrank,
        none without a descriptor, or if sendfile refused this pair: not tried again)."""
        out, offset = self._fd, 0
        if out is None:
            return 0
        self.out.flush()  # what was written before goes first
        while offset < size:
            try:
                sent = os.sendfile(out, fd, offset, min(size - offset, 1 << 30))
            except OSError as exc:
                if exc.errno not in _NO_SENDFILE:
                    raise
                self._fd = None
                break
            if sent == 0:
                break
            offset += sent
        return offset

    def link(self, info: tarfile.TarInfo, first: str) -> None:
        """A hard link entry: ``info``'s name for the file archived as ``first``."""
        info.type, info.linkname, info.size = tarfile.LNKTYPE, first, 0
        self.header(info)

    def end(self) -> None:
        self.out.write(b"\0" * (2 * BLOCK))
