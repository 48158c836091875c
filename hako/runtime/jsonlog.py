"""Docker's json-file log format: the writer (used by the shim) and the reader (daemon).

Layer: runtime (3). May import: nothing from hako (the shim imports the writer, so the
module top imports only ``os``, ``time`` and the C module ``_json``; the reader imports
``json`` lazily).

On disk: one JSON object per line, appended to ``containers/<id>/<id>-json.log``::

    {"log":"text\\n","stream":"stdout","time":"2026-11-29T19:30:00.123456789Z"}

``time`` is RFC3339Nano UTC (the writer always writes 9 fraction digits; the reader also
accepts Docker's trimmed form). A line longer than 16 KiB is split into records without
the trailing newline, and a partial line is flushed without it at EOF.
"""

from __future__ import annotations

import _json
import os
import time

PARTIAL_MAX = 16 * 1024
_STREAM_NAMES = {1: b"stdout", 2: b"stderr"}
_STREAM_IDS = {"stdout": 1, "stderr": 2}


def format_time_ns(ns: int) -> str:
    """Format epoch nanoseconds as fixed-width RFC3339Nano UTC (``...T..:..:..123456789Z``)."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def parse_time_ns(text: str) -> int:
    """Parse an RFC3339 / RFC3339Nano timestamp into epoch nanoseconds.

    Args:
        text: e.g. ``2026-11-29T19:30:00.123Z`` or ``2026-11-29T20:30:00+01:00``.

    Returns:
        Nanoseconds since the epoch.

    Raises:
        ValueError: the text is not an RFC3339 timestamp.
    """
    import calendar

    try:
        date, clock = text[:10], text[11:19]
        secs = calendar.timegm(
            (int(date[0:4]), int(date[5:7]), int(date[8:10]),
             int(clock[0:2]), int(clock[3:5]), int(clock[6:8]), 0, 0, 0)
        )
        rest = text[19:]
        frac = 0
        if rest.startswith("."):
            digits = len(rest) - len(rest[1:].lstrip("0123456789")) - 1
            frac = int(rest[1 : 1 + digits].ljust(9, "0")[:9])
            rest = rest[1 + digits :]
        if rest not in ("Z", "z"):
            sign = 1 if rest[0] == "+" else -1
            if rest[0] not in "+-" or rest[3] != ":":
                raise ValueError(text)
            secs -= sign * (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"invalid RFC3339 time {text!r}") from exc
    return secs * 1_000_000_000 + frac


class LogWriter:
    """Appends container output to a json-file log, splitting it into lines.

    Not thread-safe; the shim calls it from its single event loop. No fsync: the kernel
    page cache is enough for logs, as with Docker.
    """

    def __init__(self, path: str) -> None:
        """Open (create or append to) the log file.

        Args:
            path: the log file; its directory must exist.

        Raises:
            OSError: the file cannot be opened.
        """
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._partial = {1: b"", 2: b""}
        self._sec = -1
        self._sec_text = b""

    def _now(self) -> bytes:
        sec, frac = divmod(time.time_ns(), 1_000_000_000)
        if sec != self._sec:
            self._sec = sec
            self._sec_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()
        return b"%s.%09dZ" % (self._sec_text, frac)

    @staticmethod
    def _record(text: bytes, stream: int, stamp: bytes) -> bytes:
        log = _json.encode_basestring(text.decode("utf-8", "replace")).encode("utf-8")
        return b'{"log":%s,"stream":"%s","time":"%s"}\n' % (log, _STREAM_NAMES[stream], stamp)

    def write(self, stream: int, data: bytes) -> None:
        """Log a chunk of output; complete lines are written now, the rest is buffered.

        Args:
            stream: 1 for stdout, 2 for stderr.
            data: raw bytes read from the container.
        """
        buf = self._partial[stream] + data if self._partial[stream] else data
        lines = buf.split(b"\n")
        rest = lines.pop()
        stamp = self._now()
        out = [self._record(item + b"\n", stream, stamp) for item in lines]
        while len(rest) >= PARTIAL_MAX:
            out.append(self._record(rest[:PARTIAL_MAX], stream, stamp))
            rest = rest[PARTIAL_MAX:]
        self._partial[stream] = rest
        if out:
            self._write_all(b"".join(out))

    def flush(self, stream: int | None = None) -> None:
        """Write a buffered partial line (without a newline), e.g. at EOF.

        Args:
            stream: 1 or 2, or None for both.
        """
        for s in (stream,) if stream else (1, 2):
            if self._partial[s]:
                self._write_all(self._record(self._partial[s], s, self._now()))
                self._partial[s] = b""

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Flush partial lines and close the file."""
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


def tail_offset(f, lines: int) -> int:
    """Offset of the start of the last ``lines`` lines, reading backwards in blocks.

    Args:
        f: a binary file opened for reading (seekable).
        lines: how many lines to keep (0 means none).

    Returns:
        The byte offset to seek to.
    """
    end = f.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
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
                return pos + idx + 1
        skip_last = False
    return 0


def _decode(raw: bytes, loads):
    """Decode one log record into (stream, text bytes, time ns), or None if unusable."""
    try:
        rec = loads(raw)
        return _STREAM_IDS.get(rec.get("stream"), 1), rec["log"].encode("utf-8"), parse_time_ns(rec["time"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_logs(
    path: str,
    *,
    stdout: bool = True,
    stderr: bool = True,
    since: float | None = None,
    until: float | None = None,
    tail: int | None = None,
    timestamps: bool = False,
    follow: bool = False,
    stop=lambda: True,
    poll_interval: float = 0.05,
):
    """Read a json-file log, optionally following it as it grows.

    Args:
        path: the log file (a missing file reads as empty, or is waited for with follow).
        stdout: include stdout records.
        stderr: include stderr records.
        since: skip records before this epoch time (seconds).
        until: stop at the first record after this epoch time (seconds).
        tail: start with only the last ``tail`` lines of the file (None: all).
        timestamps: prefix each payload with its RFC3339Nano time and a space.
        follow: keep polling the file for new records.
        stop: with follow, polled at EOF; once it returns True the file is drained and
            the iterator ends.
        poll_interval: seconds between polls at EOF when following.

    Yields:
        ``(stream, payload)``: stream 1 (stdout) or 2 (stderr), payload bytes.
    """
    import json

    since_ns = None if since is None else int(since * 1_000_000_000)
    until_ns = None if until is None else int(until * 1_000_000_000)
    wanted = {1: stdout, 2: stderr}
    f = _open_log(path, follow, stop, poll_interval)
    if f is None:
        return
    with f:
        if tail is not None:
            f.seek(tail_offset(f, tail))
        buf = b""
        while True:
            chunk = f.read(256 * 1024)
            if not chunk:
                if not follow or (stop() and not _grew(f)):
                    return
                if not _grew(f):
                    time.sleep(poll_interval)
                continue
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            for raw in lines:
                rec = _decode(raw, json.loads)
                if rec is None:
                    continue
                stream, payload, ns = rec
                if until_ns is not None and ns > until_ns:
                    return
                if not wanted.get(stream) or (since_ns is not None and ns < since_ns):
                    continue
                if timestamps:
                    payload = format_time_ns(ns).encode() + b" " + payload
                yield stream, payload


def _grew(f) -> bool:
    """Whether the file has bytes past the current read position."""
    return os.fstat(f.fileno()).st_size > f.tell()


def _open_log(path: str, follow: bool, stop, poll_interval: float):
    """Open the log; with follow, wait for it to appear until ``stop()``."""
    while True:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            if not follow or stop():
                return None
            time.sleep(poll_interval)
