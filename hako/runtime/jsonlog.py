"""Docker's json-file log format and its writer (used by the shim), with rotation.

Layer: runtime (3). May import: hako.runtime.logcompress (lazily, at a compressed
rotation). The shim imports the writer, so the module top imports only ``os``, ``time``
and the C module ``_json``. The reader (daemon side) is ``hako.runtime.logread``.

On disk: one JSON object per line, appended to ``containers/<id>/<id>-json.log``, then
rotated to ``<id>-json.log.1`` … (``.gz`` when compressed)::

    {"log":"text\\n","stream":"stdout","attrs":{"tag":"web"},"time":"2026-11-29T19:30:00.123456789Z"}

``attrs`` is present only when the log options asked for some (labels, env, tag).
``time`` is RFC3339Nano UTC (the writer always writes 9 fraction digits; the reader also
accepts Docker's trimmed form). A line longer than 16 KiB is split into records without
the trailing newline, and a partial line is flushed without it at EOF. The ``local``
driver uses the same format under ``containers/<id>/local-logs/container.log``.
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
    """Appends container output to a json-file log, splitting it into lines, and rotates it.

    Rotation is Docker's (``loggerutils.LogFile``): before a record is written, a file that
    has reached ``max_size`` bytes is renamed ``<path>.1`` (older ones shift to ``.2`` …,
    the one past ``max_file - 1`` is dropped) and a new file started; with ``max_file`` 1
    the file is truncated instead. With ``compress`` the new ``<path>.1`` is gzipped to
    ``<path>.1.gz`` by a forked child (off the write path, as Docker's goroutine), and the
    next rotation waits for it, as Docker's rotate lock does.

    Not thread-safe; the shim calls it from its single event loop. No fsync: the kernel
    page cache is enough for logs, as with Docker.
    """

    def __init__(self, path: str, *, max_size: int = -1, max_file: int = 1, compress: bool = False,
                 attrs: bytes = b"", on_child=None) -> None:
        """Open (create or append to) the log file.

        Args:
            path: the log file; its directory must exist.
            max_size: rotate once the file holds this many bytes (-1: never).
            max_file: how many files to keep, the live one included (at least 1).
            compress: gzip the rotated files.
            attrs: a JSON object (bytes) to store as ``attrs`` in every record, or empty.
            on_child: called with the pid of each compression child (the shim's reaper
                must not mistake it for a container process).

        Raises:
            OSError: the file cannot be opened.
        """
        self.path = path
        self._fd = self._open(0)
        self._size = os.fstat(self._fd).st_size
        self._max_size, self._max_file, self._compress = max_size, max(1, max_file), compress
        self._attrs = b',"attrs":' + attrs if attrs else b""
        self._on_child = on_child
        self._compressor = -1  # pidfd of the running compression child
        self._partial = {1: b"", 2: b""}
        self._sec = -1
        self._sec_text = b""

    def _open(self, flags: int) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | flags, 0o640)

    def _now(self) -> bytes:
        sec, frac = divmod(time.time_ns(), 1_000_000_000)
        if sec != self._sec:
            self._sec = sec
            self._sec_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)).encode()
        return b"%s.%09dZ" % (self._sec_text, frac)

    def _record(self, text: bytes, stream: int, stamp: bytes) -> bytes:
        log = _json.encode_basestring(text.decode("utf-8", "replace")).encode("utf-8")
        return b'{"log":%s,"stream":"%s"%s,"time":"%s"}\n' % (log, _STREAM_NAMES[stream], self._attrs, stamp)

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
            self._write_records(out)

    def flush(self, stream: int | None = None) -> None:
        """Write a buffered partial line (without a newline), e.g. at EOF.

        Args:
            stream: 1 or 2, or None for both.
        """
        for s in (stream,) if stream else (1, 2):
            if self._partial[s]:
                self._write_records([self._record(self._partial[s], s, self._now())])
                self._partial[s] = b""

    def _write_records(self, records: list) -> None:
        if self._max_size < 0:
            self._write_all(b"".join(records))
            return
        batch: list = []
        for rec in records:
            if self._size >= self._max_size:
                self._write_all(b"".join(batch))
                batch = []
                self._rotate()
            batch.append(rec)
            self._size += len(rec)
        self._write_all(b"".join(batch))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def _rotate(self) -> None:
        """Start a new file (see the class docstring). A failure never stops the shim: the
        records go on into the file at hand, and a rotated file stays uncompressed."""
        self._size = 0
        try:
            if self._max_file < 2:
                os.ftruncate(self._fd, 0)
                return
            self._wait_compressor()
            ext = ".gz" if self._compress else ""
            _unlink(f"{self.path}.{self._max_file - 1}{ext}")
            for i in range(self._max_file - 1, 1, -1):
                _rename(f"{self.path}.{i - 1}{ext}", f"{self.path}.{i}{ext}")
            _rename(self.path, f"{self.path}.1")
            fd = self._open(os.O_TRUNC)
        except OSError:
            return
        os.close(self._fd)
        self._fd = fd
        if self._compress:
            from hako.runtime.logcompress import spawn_compressor

            try:
                pid, self._compressor = spawn_compressor(f"{self.path}.1")
            except OSError:
                return
            if self._on_child is not None:
                self._on_child(pid)

    def _wait_compressor(self) -> None:
        if self._compressor >= 0:
            import select

            select.select([self._compressor], [], [])
            os.close(self._compressor)
            self._compressor = -1

    def close(self) -> None:
        """Flush partial lines and close the file (a compression child finishes alone)."""
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1
        if self._compressor >= 0:
            os.close(self._compressor)
            self._compressor = -1


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rename(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass
