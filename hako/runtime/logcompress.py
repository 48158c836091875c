"""Gzip a rotated log file in a forked child, off the shim's write path.

Layer: runtime (3). May import: nothing from hako. Imported by the shim only when a
compressed log rotates; ``gzip`` is imported in the child, never in the shim.

The child compresses ``<file>`` to ``<file>.gz.tmp``, renames that to ``<file>.gz`` and
unlinks ``<file>``; if it fails or is killed, ``<file>`` stays (readers take either form).
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
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        while True:
            chunk = os.read(src, 1 << 16)
            if not chunk:
                break
            gz.write(chunk)
    os.rename(tmp, path + ".gz")
    os.unlink(path)
