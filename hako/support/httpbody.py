"""An HTTP/1.1 request body read straight off the client's socket by a helper process.

``docker cp`` sends 100 MB tars to ``PUT /containers/{id}/archive``. Relaying such a body
through the daemon's event loop (parse, copy into a pipe, copy out again in the helper)
cost more than the extraction itself, so the API server can hand the rest of a request's
body to the helper instead (:class:`Handoff`): a duplicate of the socket's descriptor, the
body bytes it had already read (still framed), and the framing from the request head. The
helper reads the body with :class:`BodyReader`; the daemon answers once the helper is done
and then closes the connection (it no longer knows where the body ended).

The decoder is strict, as the body is hostile: chunk sizes are hex digits only (at most 16),
lines are capped at 4 KiB, a chunk must end with CRLF, and a body that ends early is an
error, never a short read taken for the end.

Layer 1. May import: errors.
"""

from __future__ import annotations

import io
import os
import select
from dataclasses import dataclass

from hako.errors import InvalidArgument

_READ = 1 << 18  # what one read asks of the socket
_MAX_LINE = 4096
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIZE, _DATA, _CRLF, _TRAILER, _DONE, _BROKEN = range(6)


@dataclass
class Handoff:
    """The rest of a request body, for another process to read.

    Attributes:
        fd: a duplicate of the client socket's descriptor (it may be non-blocking).
        prefix: body bytes the server had read already, still framed.
        chunked: ``Transfer-Encoding: chunked``; else ``length`` bytes follow.
        length: the ``Content-Length`` (unused when chunked).
    """

    fd: int
    prefix: bytes
    chunked: bool
    length: int = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def truncated() -> InvalidArgument:
    return InvalidArgument("request body ended early")


class BodyReader(io.RawIOBase):
    """Reads a request body, without its framing, from ``fd`` after ``prefix``.

    Large reads of chunk data go straight from the socket into the caller's buffer.

    Raises (from reads):
        InvalidArgument: malformed chunked framing or a body cut short.
    """

    def __init__(self, fd: int, prefix: bytes, chunked: bool, length: int = 0) -> None:
        super().__init__()
        self._fd = fd
        self._buf = prefix
        self._pos = 0
        self._chunked = chunked
        self._state = _SIZE if chunked else (_DATA if length > 0 else _DONE)
        self._left = 0 if chunked else length

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        if self._state == _BROKEN:  # where the body ends is unknown after an error
            raise InvalidArgument("invalid request body: read after an error")
        try:
            while True:
                if self._state == _DONE or not len(view):
                    return 0
                if self._state == _DATA:
                    return self._data_into(view)
                self._framing()
        except BaseException:
            self._state = _BROKEN
            raise

    def drain(self) -> None:
        """Read and drop whatever is left of the body."""
        sink = bytearray(_READ)
        while self.readinto(sink):
            pass

    @property
    def done(self) -> bool:
        return self._state == _DONE

    # -- internals -------------------------------------------------------------------------
    def _data_into(self, view: memoryview) -> int:
        avail = len(self._buf) - self._pos
        want = min(len(view), self._left)
        if not avail and want >= _READ:  # a large read: straight into the caller's buffer
            n = self._recv_into(view[:want])
        else:
            if not avail:  # small chunks (docker's are 32 KiB): one read for many of them
                self._buf, self._pos = self._recv(_READ), 0
                avail = len(self._buf)
            n = min(want, avail)
            view[:n] = self._buf[self._pos:self._pos + n]
            self._pos += n
        self._left -= n
        if self._left == 0:
            self._state = _CRLF if self._chunked else _DONE
        return n

    def _framing(self) -> None:
        line = self._line()
        if self._state == _SIZE:
            size = line.split(b";", 1)[0].strip(b" \t")
            if not size or len(size) > 16 or not _HEX.issuperset(size):
                raise InvalidArgument("invalid chunked request body: bad chunk size")
            self._left = int(size, 16)
            self._state = _DATA if self._left else _TRAILER
        elif self._state == _CRLF:
            if line:
                raise InvalidArgument("invalid chunked request body: chunk not followed by CRLF")
            self._state = _SIZE
        elif not line:  # _TRAILER: trailer fields until an empty line
            self._state = _DONE

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos:end]
                self._pos = end + 2
                return bytes(line)
            if len(self._buf) - self._pos > _MAX_LINE:
                raise InvalidArgument("invalid chunked request body: line too long")
            more = self._recv(_READ)
            self._buf = self._buf[self._pos:] + more
            self._pos = 0

    def _recv(self, n: int) -> bytes:
        while True:
            try:
                data = os.read(self._fd, n)
            except BlockingIOError:
                self._wait()
                continue
            if not data:
                raise truncated()
            return data

    def _recv_into(self, view: memoryview) -> int:
        while True:
            try:
                n = os.readv(self._fd, [view])
            except BlockingIOError:
                self._wait()
                continue
            if n == 0:
                raise truncated()
            return n

    def _wait(self) -> None:
        p = select.poll()
        p.register(self._fd, select.POLLIN)
        p.poll()
