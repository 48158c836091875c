"""Gzip a rotated log file in a forked child, off the shim's write path.

Layer: runtime (3). May import: nothing from hako. Imported by the shim only when a
compressed log rotates; ``gzip`` is imported in the child, never in the shim.

The child compresses ``<file>`` to ``<file>.gz.tmp``, renames that to ``<file>.gz`` and
unlinks ``<file>``; if it fails or is killed, ``<file>`` stays (readers take either form).
The gzip header's file name is ``ino-<inode of the plain file>``, so a follower that held
the plain file open can tell which compressed file it became (``source_inode``).
The shim is single-threaded, so forking it is safe; the child closes every inherited fd
but the source first, so no attach socket or pipe is held open by it.
"""

from __future__ import annotations

import os


def spawn_compressor(path: str) -> tuple[int, int]:
    """Fork a child that gzips ``path`` into ``path.gz`` and removes ``path``.

    Args:
        path: the rotated file.

    Returns:
        (pid, pidfd) of the child: the pidfd turns readable when it has exited.

    Raises:
        OSError: the file cannot be opened or the fork failed.
    """
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                os.closerange(0, src)
                os.closerange(src + 1, 65536)
                compress_fd(src, path)
                code = 0
            finally:
                os._exit(code)
    finally:
        os.close(src)
    return pid, os.pidfd_open(pid)


def compress_fd(src: int, path: str) -> None:
    """Write the contents of ``src`` to ``path.gz`` atomically, then unlink ``path``."""
    import gzip

    tmp = path + ".gz.tmp"
    name = f"ino-{os.fstat(src).st_ino}"
    with open(tmp, "wb") as raw, gzip.GzipFile(filename=name, mode="wb", fileobj=raw, mtime=0) as gz:
        while True:
            chunk = os.read(src, 1 << 16)
            if not chunk:
                break
            gz.write(chunk)
    os.rename(tmp, path + ".gz")
    os.unlink(path)


def source_inode(path: str) -> int | None:
    """The inode recorded by ``compress_fd`` in a gzip file's header, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if head[:3] != b"\x1f\x8b\x08" or head[3] != 0x08:  # deflate, FNAME only
        return None
    name = head[10:].split(b"\0", 1)[0]
    return int(name[4:]) if name.startswith(b"ino-") and name[4:].isdigit() else None
