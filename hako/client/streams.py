"""Stream decoding: multiplexed stdout/stderr frames and JSON-lines progress.

Frame format (no TTY): an 8-byte header ``[stream, 0, 0, 0, size (uint32 big-endian)]``
followed by ``size`` bytes; stream 0 is stdin, 1 stdout, 2 stderr. With a TTY the stream is
raw bytes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

STDOUT = 1
STDERR = 2


class FrameDecoder:
    """Incremental demultiplexer: feed bytes, get (stream, payload) frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data`` and return every complete frame.

        Returns:
            A list of (stream number, payload bytes).
        """
        self._buf += data
        out = []
        while len(self._buf) >= 8:
            stream = self._buf[0]
            (size,) = struct.unpack(">I", self._buf[4:8])
            if len(self._buf) < 8 + size:
                break
            out.append((stream, bytes(self._buf[8 : 8 + size])))
            del self._buf[: 8 + size]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


def demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield (stream, payload) frames from an iterable of raw chunks."""
    dec = FrameDecoder()
    for chunk in chunks:
        yield from dec.feed(chunk)


def encode_frame(stream: int, payload: bytes) -> bytes:
    """Encode one multiplexed frame (used by tests and fakes)."""
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def json_lines(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Decode a stream of JSON objects (newline separated or concatenated)."""
    decoder = json.JSONDecoder()
    buf = ""
    for chunk in chunks:
        buf += chunk.decode("utf-8", "replace")
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                obj, end = decoder.raw_decode(buf)
            except ValueError:
                break
            buf = buf[end:]
            yield obj
    if buf.strip():
        yield {"stream": buf}


def copy_frames(
    chunks: Iterable[bytes], write_out: Callable[[bytes], Any], write_err: Callable[[bytes], Any],
    tty: bool,
) -> None:
    """Copy an attach/logs stream to two writers, demultiplexing unless ``tty``."""
    if tty:
        for chunk in chunks:
            write_out(chunk)
        return
    for stream, payload in demux(chunks):
        (write_err if stream == STDERR else write_out)(payload)
