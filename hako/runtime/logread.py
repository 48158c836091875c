"""Read a json-file (or ``local``) log across its rotated files, optionally following it.

Layer: runtime (3). May import: hako.runtime.jsonlog (the format), logcompress. Used by the daemon
(``logs``, ``attach --logs``); never imported by the shim.

Files, oldest first: ``<path>.N[.gz]`` … ``<path>.1[.gz]``, then ``<path>`` (see
``jsonlog.LogWriter``). A rotated file may exist in both forms while the shim's
compression child runs; the plain one is read then. Every file is held open from the
start, so later rotations do not move what is being read; compressed files are streamed
(only a ``--tail`` reaching into one decompresses that file, about max-size bytes, in
memory). Following reads the live file and,
when the writer rotates it (the path names another inode), drains the old one and
continues with the new one; a truncated live file (max-file 1) is read from its start.
"""

from __future__ import annotations

import io
import os
import time

from hako.runtime.jsonlog import format_time_ns, parse_time_ns

_STREAM_IDS = {"stdout": 1, "stderr": 2}


def rotated_files(path: str) -> list[str]:
    """The rotated files of a log that exist now, oldest first."""
    found = []
    i = 1
    while True:
        name = next((n for n in (f"{path}.{i}", f"{path}.{i}.gz") if os.path.exists(n)), None)
        if name is None:
            return found[::-1]
        found.append(name)
        i += 1


def tail_offset(f, lines: int) -> int:
    """Offset of the start of the last ``lines`` lines, reading backwards in blocks.

    Args:
        f: a binary file opened for reading (seekable).
        lines: how many lines to keep (0 means none).

    Returns:
        The byte offset to seek to.
    """
    return _tail(f, lines)[0]


def _tail(f, lines: int) -> tuple[int, int]:
    """(offset of the last ``lines`` lines, how many lines were found, at most ``lines``)."""
    end = f.seek(0, os.SEEK_END)
    if lines <= 0:
        return end, 0
    pos, seen, block = end, 0, 64 * 1024
    skip_last = True  # the newline that ends the last line does not start a line
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step)
        idx = len(chunk)
        while True:
            idx = chunk.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            if skip_last and pos + idx == end - 1:
                skip_last = False
                continue
            skip_last = False
            seen += 1
            if seen == lines:
                return pos + idx + 1, seen
        skip_last = False
    return 0, seen + (1 if end > 0 else 0)


def _decode(raw: bytes, loads):
    """Decode one record into (stream, text bytes, time ns, attrs), or None if unusable.

    A json-file line starts with ``{``; any other line is read as conmon's k8s-file format
    (``decode_k8s``), so a log written by either shim reads the same."""
    if not raw.startswith(b"{"):
        return decode_k8s(raw)
    try:
        rec = loads(raw)
        attrs = rec.get("attrs") or {}
        return (_STREAM_IDS.get(rec.get("stream"), 1), rec["log"].encode("utf-8"),
                parse_time_ns(rec["time"]), attrs if isinstance(attrs, dict) else {})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def decode_k8s(raw: bytes):
    """One k8s-file line (``<RFC3339Nano> <stdout|stderr> <F|P> <text>``, conmon's log
    format) as (stream, payload, time ns, {}): a full line ``F`` gets its newline back, a
    partial one ``P`` stays without, as json-file stores them. None if unusable."""
    parts = raw.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2][:1] not in (b"F", b"P"):
        return None
    try:
        ns = parse_time_ns(parts[0].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    text = parts[3] if len(parts) > 3 else b""
    return (1 if parts[1] == b"stdout" else 2, text + b"\n" if parts[2][:1] == b"F" else text, ns, {})


def details_prefix(attrs: dict) -> bytes:
    """Docker's ``--details`` prefix: ``k=v,k2=v2`` sorted, query-escaped, then a space."""
    from urllib.parse import quote_plus

    return ",".join(f"{quote_plus(str(k), safe='')}={quote_plus(str(v), safe='')}"
                    for k, v in sorted(attrs.items())).encode() + b" "


def read_logs(path: str, *, stdout: bool = True, stderr: bool = True, since_ns: int | None = None,
              until_ns: int | None = None, tail: int | None = None, timestamps: bool = False,
              details: bool = False, follow: bool = False, stop=lambda: True,
              poll_interval: float = 0.05):
    """Read a log and its rotated files in order, optionally following the live file.

    Args:
        path: the live log file (a missing file reads as empty, or is waited for with follow).
        stdout: include stdout records.
        stderr: include stderr records.
        since_ns: skip records before this epoch time (nanoseconds).
        until_ns: stop at the first record after this epoch time (nanoseconds).
        tail: start with only the last ``tail`` lines across the files (None: all).
        timestamps: prefix each payload with its RFC3339Nano time and a space.
        details: prefix each payload with its attributes (``details_prefix``).
        follow: keep polling the live file for new records, across rotations.
        stop: with follow, polled at EOF; once it returns True the file is drained and
            the iterator ends.
        poll_interval: seconds between polls at EOF when following.

    Yields:
        ``(stream, payload)``: stream 1 (stdout) or 2 (stderr), payload bytes.
    """
    import json

    wanted = {1: stdout, 2: stderr}
    files = _open_all(path, follow, stop, poll_interval)
    try:
        first, offset = (0, 0) if tail is None else _tail_start(files, tail)
        for idx in range(first, len(files)):
            src, start = files[idx], offset if idx == first else 0
            if isinstance(src, _Rotated):
                source = src.lines_from(start)
            else:  # the live file
                src.seek(start)
                source = _follow_lines(src, path, stop, poll_interval) if follow else _lines(src)
            for raw in source:
                rec = _decode(raw, json.loads)
                if rec is None:
                    continue
                stream, payload, ns, attrs = rec
                if until_ns is not None and ns > until_ns:
                    return
                if not wanted.get(stream) or (since_ns is not None and ns < since_ns):
                    continue
                if details:
                    payload = details_prefix(attrs) + payload
                if timestamps:
                    payload = format_time_ns(ns).encode() + b" " + payload
                yield stream, payload
    finally:
        for f in files:
            f.close()


def _tail_start(files: list, lines: int) -> tuple[int, int]:
    """(file index, offset) where the last ``lines`` lines across ``files`` start."""
    remaining = lines
    for idx in range(len(files) - 1, -1, -1):
        src = files[idx]
        offset, seen = _tail(src.seekable() if isinstance(src, _Rotated) else src, remaining)
        if seen >= remaining:
            return idx, offset
        remaining -= seen
    return 0, 0


def _open_all(path: str, follow: bool, stop, poll_interval: float) -> list:
    """Open the rotated files and the live one, consistently (a rotation meanwhile retries)."""
    files: list = []
    for attempt in range(5):
        names = rotated_files(path)
        before = _identity(path, names)
        files = []
        try:
            files = [_Rotated(n) for n in names]
            live = _open_live(path, follow and not names, stop, poll_interval)
            if live is not None:
                files.append(live)
        except FileNotFoundError:  # rotated away under us
            for f in files:
                f.close()
            files = []
            continue
        if attempt == 4 or _identity(path, rotated_files(path)) == before:
            return files
        for f in files:
            f.close()
    return files


def _identity(path: str, names: list[str]) -> tuple:
    """The inodes of the rotated files and the live one: a rotation changes them."""
    out = []
    for name in [*names, path]:
        try:
            out.append((name, os.stat(name).st_ino))
        except FileNotFoundError:
            out.append((name, None))
    return tuple(out)


class _Rotated:
    """A rotated file, held open: a plain one is read in place, a gzip one streamed; a
    ``--tail`` that reaches into a gzip file decompresses that one file in memory."""

    def __init__(self, name: str) -> None:
        self.f = open(name, "rb")
        self.gz = name.endswith(".gz")

    def seekable(self):
        """The file as a seekable binary file of its (decompressed) lines."""
        if self.gz:
            import gzip

            self.f.seek(0)
            data = gzip.decompress(self.f.read())
            self.f.close()
            self.f, self.gz = io.BytesIO(data), False
        return self.f

    def lines_from(self, offset: int):
        """The complete lines from ``offset`` of the decompressed content."""
        if self.gz and offset == 0:
            import gzip

            self.f.seek(0)
            return _lines(gzip.GzipFile(fileobj=self.f, mode="rb"))
        f = self.seekable()
        f.seek(offset)
        return _lines(f)

    def close(self) -> None:
        self.f.close()


def _open_live(path: str, wait: bool, stop, poll_interval: float):
    """Open the live log; with ``wait``, wait for it to appear until ``stop()``."""
    while True:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            if not wait or stop():
                return None
            time.sleep(poll_interval)


def _lines(f):
    """The complete lines of a file, from its position to its end."""
    buf = b""
    while True:
        chunk = f.read(256 * 1024)
        if not chunk:
            return
        lines = (buf + chunk).split(b"\n")
        buf = lines.pop()
        yield from lines


def _follow_lines(f, path: str, stop, poll_interval: float):
    """The lines of the live file as it grows, across rotations, until ``stop()`` at EOF."""
    buf = b""
    try:
        while True:
            chunk = f.read(256 * 1024)
            if chunk:
                lines = (buf + chunk).split(b"\n")
                buf = lines.pop()
                yield from lines
                continue
            if os.fstat(f.fileno()).st_size < f.tell():  # truncated (max-file 1)
                f.seek(0)
                buf = b""
                continue
            new = _reopen_if_rotated(f, path)
            if new is not None:
                yield from _lines(f)  # what was written before the rename
                for between in _rotated_since(f, path):  # several rotations since the last poll
                    yield from between.lines_from(0)
                    between.close()
                f.close()
                f, buf = new, b""
                continue
            if stop() and not _grew(f) and _reopen_if_rotated(f, path, peek=True) is None:
                return
            time.sleep(poll_interval)
    finally:
        f.close()


def _rotated_since(f, path: str) -> list:
    """The files rotated after ``f`` (oldest first), found by ``f``'s inode among the
    rotated files (a compressed one records it: ``logcompress.source_inode``); none when
    ``f`` was dropped meanwhile."""
    from hako.runtime.logcompress import source_inode

    ino = os.fstat(f.fileno()).st_ino
    names = rotated_files(path)
    for idx, name in enumerate(names):
        try:
            found = source_inode(name) if name.endswith(".gz") else os.stat(name).st_ino
            if found == ino:
                return [_Rotated(n) for n in names[idx + 1:]]
        except FileNotFoundError:
            return []
    return []


def _reopen_if_rotated(f, path: str, peek: bool = False):
    """A new file object when ``path`` now names another file than ``f`` (or True with peek)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None  # between the rename and the new file: seen at the next poll
    if st.st_ino == os.fstat(f.fileno()).st_ino:
        return None
    if peek:
        return True
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _grew(f) -> bool:
    """Whether the file has bytes past the current read position."""
    return os.fstat(f.fileno()).st_size > f.tell()
