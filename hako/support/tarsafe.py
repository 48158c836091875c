"""Safe tar handling: path confinement, link checks, device-node policy, decompression.

Every tar entry name is cleaned like Docker does (a leading ``/`` is stripped, ``./`` and
``//`` are collapsed) and refused when it escapes the root (``../``). Paths inside the
destination are resolved component by component with symlinks interpreted *inside* the
root (an absolute target means the root), as Docker does by chrooting; a resolution that
climbs above the root is refused. Refusals raise InvalidArgument naming the entry.

Layer 1. May import: errors.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import stat
from typing import BinaryIO

from hako.errors import InvalidArgument

_MAX_LINKS = 255
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


def breakout(entry: str, why: str = "path escapes the root") -> InvalidArgument:
    """The error for an entry that tries to leave the destination."""
    return InvalidArgument(f"invalid tar entry {entry!r}: {why}")


def clean_name(name: str) -> str:
    """Normalize a tar entry name to a relative path ("" is the root itself).

    Raises:
        InvalidArgument: the name climbs above the root.
    """
    stripped = name.lstrip("/")
    if not stripped:
        return ""
    norm = posixpath.normpath(stripped)
    if norm == "..":
        raise breakout(name)
    if norm.startswith("../"):
        raise breakout(name)
    return "" if norm == "." else norm


def check_symlink_target(name: str, linkname: str) -> None:
    """Docker's rule: the link's directory joined with its target (a leading ``/`` joined
    like any other, as Go's filepath.Join does) must not climb above the root.

    Raises:
        InvalidArgument: the target escapes.
    """
    base = posixpath.dirname(clean_name(name))
    target = posixpath.normpath(posixpath.join(base, linkname.lstrip("/")) or ".")
    if target == ".." or target.startswith("../"):
        raise breakout(name, f"symlink target {linkname!r} escapes the root")


def resolve(root: str, rel: str, entry: str, follow_final: bool = False) -> str:
    """Resolve ``rel`` under ``root`` with symlinks interpreted inside the root.

    Args:
        root: the destination directory (host path, no symlinks in it).
        rel: a cleaned relative path.
        entry: the tar entry name, for error messages.
        follow_final: also follow a symlink in the last component.

    Returns:
        The host path; components that do not exist are appended as they are.

    Raises:
        InvalidArgument: the resolution leaves the root or loops.
    """
    pending = [p for p in rel.split("/") if p not in ("", ".")]
    current: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not current:
                raise breakout(entry, "path escapes the root through a symlink")
            current.pop()
            continue
        candidate = os.path.join(root, *current, part)
        if not pending and not follow_final:
            current.append(part)
            break
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            current.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise breakout(entry, "too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        current.append(part)
    return os.path.join(root, *current)


def can_mknod() -> bool:
    """Device-node policy: block and char devices are created only as root."""
    return os.geteuid() == 0


class _Prefixed(io.RawIOBase):
    """A reader that yields ``prefix`` and then the rest of ``inner``."""

    def __init__(self, prefix: bytes, inner: BinaryIO) -> None:
        self._prefix = prefix
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buf), len(self._prefix))
            buf[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        readinto = getattr(self._inner, "readinto", None)
        if readinto is not None:
            return readinto(buf) or 0
        data = self._inner.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def decompress_errors() -> tuple[type[BaseException], ...]:
    """What reading a :func:`decompressed` stream raises on corrupt compressed data (besides
    EOFError for a truncated one and OSError for a bad header)."""
    import zlib

    errors: tuple[type[BaseException], ...] = (zlib.error,)
    try:
        from isal import isal_zlib

        errors += (isal_zlib.error,)
    except ImportError:  # pragma: no cover
        pass
    return errors


def decompressed(fileobj: BinaryIO, threaded: bool = False) -> BinaryIO:
    """Wrap a possibly gzip-, bzip2-, xz- or zstd-compressed stream so reads return the plain tar.

    ``threaded``: gzip is inflated by a thread of its own (ISA-L releases the GIL), one
    block ahead of the reader: the caller must ``close()`` the result, which waits for that
    thread (it may be blocked reading ``fileobj``).

    Raises:
        Unsupported: zstd content without the optional ``zstandard`` package.
    """
    peek = getattr(fileobj, "peek", None)
    if peek is not None and not threaded:  # a buffered reader: look without taking
        head = peek(6)[:6]
        if len(head) == 6 and not head.startswith((GZIP_MAGIC, BZIP2_MAGIC, XZ_MAGIC, ZSTD_MAGIC)):
            return fileobj  # plain tar: no second buffer to copy through
    head = b""
    while len(head) < 6:
        chunk = fileobj.read(6 - len(head))
        if not chunk:
            break
        head += chunk
    stream: BinaryIO = io.BufferedReader(_Prefixed(head, fileobj), 1 << 16)
    if head.startswith(GZIP_MAGIC):
        try:  # ISA-L inflates 2-3x faster than zlib (pulls, loads, ADD of a .tar.gz)
            from isal import igzip

            if threaded:
                from isal import igzip_threaded

                return igzip_threaded.open(stream, "rb", threads=1)  # type: ignore[return-value]
            return igzip.IGzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
        except ImportError:  # pragma: no cover
            return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(BZIP2_MAGIC):
        import bz2

        return bz2.BZ2File(stream, "rb")  # type: ignore[return-value]
    if head.startswith(XZ_MAGIC):
        import lzma

        return lzma.LZMAFile(stream, "rb")  # type: ignore[return-value]
    if head.startswith(ZSTD_MAGIC):
        try:
            import zstandard  # optional dependency
        except ImportError as exc:
            from hako.errors import Unsupported

            raise Unsupported("zstd-compressed layers need the zstandard package") from exc
        return zstandard.ZstdDecompressor().stream_reader(stream)  # type: ignore[return-value]
    return stream
