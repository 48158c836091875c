"""A minimal HTTP/1.1 client connection: one request per connection, as the CLI uses it.

:mod:`http.client` costs ~25 ms to import (it pulls in :mod:`email` and :mod:`ssl`), a
quarter of a CLI call; this module imports only :mod:`socket`. It writes a request (body as
bytes with ``Content-Length``, or a file/iterable sent chunked) and parses the response head,
then reads the body framed by ``Content-Length``, chunked encoding or connection close.
"""

from __future__ import annotations

import socket

_NO_BODY_STATUSES = (204, 304)


class ProtocolError(OSError):
    """The daemon's answer is not HTTP/1.x as expected."""


class Connection:
    """An HTTP/1.1 connection over an already created socket factory."""

    def __init__(self, connect, timeout: float | None = None) -> None:
        self._connect = connect
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._body: Body | None = None

    def connect(self) -> None:
        self.sock = self._connect(self.timeout)

    def request(self, method: str, path: str, body=None, headers: dict[str, str] | None = None
                ) -> Body:
        """Send one request and read the response head; the body is left unread."""
        if self.sock is None:
            self.connect()
        hdrs = dict(headers or {})
        names = {k.lower() for k in hdrs}
        chunked = False
        if isinstance(body, str):
            body = body.encode()
        if "content-length" not in names and "transfer-encoding" not in names:
            if isinstance(body, (bytes, bytearray, memoryview)):
                hdrs["Content-Length"] = str(len(body))
            elif body is not None:
                hdrs["Transfer-Encoding"] = "chunked"
                chunked = True
            elif method in ("POST", "PUT", "PATCH"):
                hdrs["Content-Length"] = "0"
        elif "transfer-encoding" in names:
            chunked = not isinstance(body, (bytes, bytearray, memoryview)) and body is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        sock = self.sock
        data = f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1")
        if isinstance(body, (bytes, bytearray, memoryview)):
            sock.sendall(data + bytes(body))
        else:
            sock.sendall(data)
            if body is not None:
                _send_body(sock, body, chunked)
        self._body = Body(sock, method)
        return self._body

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def _send_body(sock: socket.socket, body, chunked: bool) -> None:
    chunks = iter(lambda: body.read(65536), b"") if hasattr(body, "read") else body
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode()
        if not chunk:
            continue
        if chunked:
            sock.sendall(b"%X\r\n" % len(chunk) + bytes(chunk) + b"\r\n")
        else:
            sock.sendall(chunk)
    if chunked:
        sock.sendall(b"0\r\n\r\n")


class Body:
    """The response to one request: ``status``, ``headers`` (name → value as sent), and a
    body read with :meth:`read`, :meth:`read1` and :meth:`readline`."""

    def __init__(self, sock: socket.socket, method: str) -> None:
        self._f = sock.makefile("rb", buffering=65536)
        line = self._f.readline(65537)
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"malformed status line from the daemon: {line[:80]!r}")
        try:
            self.status = int(parts[1])
        except ValueError:
            raise ProtocolError(f"malformed status line from the daemon: {line[:80]!r}") from None
        self.headers: list[tuple[str, str]] = []
        while True:
            line = self._f.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            self.headers.append((name.strip(), value.strip()))
        lower = {k.lower(): v for k, v in self.headers}
        self._chunked = "chunked" in lower.get("transfer-encoding", "").lower()
        self._left: int | None = None  # bytes left in the body (or current chunk when chunked)
        self._done = False
        if method == "HEAD" or self.status in _NO_BODY_STATUSES or 100 <= self.status < 200:
            self._done = True
        elif self._chunked:
            self._left = 0
        elif "content-length" in lower:
            try:
                self._left = int(lower["content-length"])
            except ValueError:
                raise ProtocolError("malformed Content-Length from the daemon") from None
            self._done = self._left == 0

    def getheaders(self) -> list[tuple[str, str]]:
        return self.headers

    def _next_chunk(self) -> bool:
        """Chunked: position at the next chunk; False at the last one."""
        if self._left == 0 and not self._done:
            line = self._f.readline(1026)
            if line in (b"\r\n", b"\n"):  # the CRLF closing the previous chunk
                line = self._f.readline(1026)
            if not line:
                raise ProtocolError("the daemon closed the connection inside a chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"malformed chunk size from the daemon: {line[:40]!r}") from None
            if size == 0:
                while self._f.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return False
            self._left = size
        return not self._done

    def read1(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes as they arrive; b"" at the end of the body."""
        if self._done:
            return b""
        if self._chunked and not self._next_chunk():
            return b""
        want = n if self._left is None else min(n, self._left)
        data = self._f.read1(want)
        if self._left is not None:
            if not data:
                raise ProtocolError("the daemon closed the connection before the body's end")
            self._left -= len(data)
            if self._left == 0 and not self._chunked:
                self._done = True
        elif not data:
            self._done = True
        return data

    def read(self, n: int = -1) -> bytes:
        """``n`` bytes (fewer at the end), or the whole rest of the body when ``n`` < 0."""
        out = bytearray()
        while n < 0 or len(out) < n:
            data = self.read1(65536 if n < 0 else n - len(out))
            if not data:
                break
            out += data
        return bytes(out)

    def readline(self, limit: int = 1 << 20) -> bytes:
        out = bytearray()
        while len(out) < limit:
            if self._done or (self._chunked and not self._next_chunk()):
                break
            want = limit - len(out) if self._left is None else min(limit - len(out), self._left)
            peek = self._f.peek(1)[: want]
            i = peek.find(b"\n")
            data = self.read1(i + 1 if i >= 0 else max(len(peek), 1))
            if not data:
                break
            out += data
            if data.endswith(b"\n"):
                break
        return bytes(out)

    def close(self) -> None:
        try:
            self._f.close()
        except OSError:
            pass
