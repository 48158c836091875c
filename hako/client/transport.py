"""HTTP/1.1 transport to the Engine API over a unix socket or TCP.

Uses :mod:`hako.client.http11` (imports only :mod:`socket`; :mod:`http.client` cost a
quarter of each CLI call). Besides ordinary
requests, :meth:`Transport.hijack` performs the ``Connection: Upgrade`` / ``Upgrade: tcp``
handshake used by attach and exec start and hands back the raw socket.

The transport is injectable: anything with ``request()`` and ``hijack()`` of the same
shape works (see :class:`FakeTransport` for tests).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from hako.client.http11 import Connection
from hako.errors import InvalidArgument, Unavailable

DEFAULT_HOST = "unix:///run/hako/hako.sock"


class HostAddress(NamedTuple):
    """A parsed daemon address: ``scheme`` is "unix" or "tcp"."""

    scheme: str
    address: str  # socket path for unix, "host:port" for tcp

    def __str__(self) -> str:
        return f"{self.scheme}://{self.address}"


def parse_host(text: str) -> HostAddress:
    """Parse ``unix:///path``, ``tcp://host:port``, ``http://…`` or a bare path.

    Raises:
        InvalidArgument: the scheme is not supported.
    """
    if text.startswith("/"):
        return HostAddress("unix", text)
    parts = urlsplit(text)
    if parts.scheme == "unix":
        return HostAddress("unix", parts.path or "/run/hako/hako.sock")
    if parts.scheme in ("tcp", "http", "https"):
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (2376 if parts.scheme == "https" else 2375)
        return HostAddress("tcp", f"{host}:{port}")
    raise InvalidArgument(f"unable to parse docker host `{text}`")


class Response:
    """An HTTP response whose body may be read whole or streamed."""

    def __init__(self, status: int, headers: dict[str, str], raw: Any, conn: Any = None):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self._raw = raw
        self._conn = conn

    def read(self) -> bytes:
        """Read the whole body and release the connection."""
        try:
            return self._raw.read()
        finally:
            self.close()

    def json(self) -> Any:
        data = self.read()
        return json.loads(data) if data.strip() else None

    def read_chunk(self, size: int = 65536) -> bytes:
        """Read up to ``size`` bytes as they arrive ("" at the end)."""
        return self._raw.read1(size) if hasattr(self._raw, "read1") else self._raw.read(size)

    def iter_chunks(self, size: int = 65536) -> Iterable[bytes]:
        while True:
            chunk = self.read_chunk(size)
            if not chunk:
                return
            yield chunk

    def readline(self) -> bytes:
        return self._raw.readline()

    def wait_readable(self, timeout: float) -> bool:
        """True when body bytes arrive within ``timeout`` (unread responses only)."""
        import select

        sock = getattr(self._conn, "sock", None)
        if sock is None:
            return True
        return bool(select.select([sock], [], [], timeout)[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Hijacked:
    """A hijacked connection: ``sock`` is raw; ``buffered`` holds bytes read past headers."""

    def __init__(self, sock: socket.socket, buffered: bytes, status: int) -> None:
        self.sock, self.buffered, self.status = sock, buffered, status

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Transport:
    """Real transport to one daemon address."""

    def __init__(self, host: HostAddress | str = DEFAULT_HOST, timeout: float | None = None,
                 tls: Any = None):
        """``tls``: None, or anything with ``verify``, ``ca``, ``cert``, ``key`` (paths)."""
        self.host = parse_host(host) if isinstance(host, str) else host
        self.timeout = timeout
        self.tls = tls
        self._ssl = None

    def _ssl_context(self):
        if self._ssl is None:
            import ssl

            ctx = ssl.create_default_context(cafile=self.tls.ca if self.tls.verify else None)
            if not self.tls.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if self.tls.cert:
                ctx.load_cert_chain(self.tls.cert, self.tls.key)
            self._ssl = ctx
        return self._ssl

    def _connection(self) -> Connection:
        return Connection(self._open_socket, timeout=self.timeout)

    def _open_socket(self, timeout: float | None) -> socket.socket:
        if self.host.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(self.host.address)
            except OSError:
                sock.close()
                raise
            return sock
        h, _, p = self.host.address.rpartition(":")
        sock = socket.create_connection((h.strip("[]"), int(p)), timeout=timeout)
        if self.tls is not None:
            try:
                sock = self._ssl_context().wrap_socket(sock, server_hostname=h.strip("[]"))
            except OSError:
                sock.close()
                raise
        return sock

    def _connect_error(self, exc: OSError) -> Unavailable:
        return Unavailable(
            f"Cannot connect to the Docker daemon at {self.host}. Is the docker daemon running?"
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send a request; the returned response is unread (stream or read it).

        Raises:
            Unavailable: the daemon cannot be reached.
        """
        conn = self._connection()
        hdrs = {"Host": "docker", "User-Agent": "hako-cli"}
        hdrs.update(headers or {})
        try:
            conn.connect()
        except (ConnectionRefusedError, FileNotFoundError, PermissionError) as exc:
            conn.close()
            raise self._connect_error(exc) from exc
        try:
            resp = conn.request(method, path, body=body, headers=hdrs)
        except BaseException:
            conn.close()
            raise
        return Response(resp.status, dict(resp.getheaders()), resp, conn)

    def hijack(
        self, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Hijacked:
        """Send an upgrade request and return the raw socket after the headers.

        Raises:
            Unavailable: the daemon cannot be reached.
        """
        conn = self._connection()
        try:
            conn.connect()
        except (ConnectionRefusedError, FileNotFoundError, PermissionError) as exc:
            raise self._connect_error(exc) from exc
        sock = conn.sock
        sock.settimeout(None)
        lines = [f"{method} {path} HTTP/1.1", "Host: docker", "User-Agent: hako-cli",
                 "Connection: Upgrade", "Upgrade: tcp"]
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
            hdrs["Content-Length"] = str(len(body))
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        status, rest = _read_head(sock)
        return Hijacked(sock, rest, status)


def _read_head(sock: socket.socket) -> tuple[int, bytes]:
    """Read the status line and headers; return the status and any extra bytes."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    if status not in (101, 200):
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        while len(rest) < length:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
    return status, rest


# -- fake for tests ---------------------------------------------------------------------------


class _BytesRaw:
    def __init__(self, data: bytes) -> None:
        import io

        self._io = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._io.read(n)

    def read1(self, n: int = -1) -> bytes:
        return self._io.read1(n)

    def readline(self) -> bytes:
        return self._io.readline()


class FakeTransport:
    """Routes requests to ``handler(method, path, body) -> (status, headers, body)``.

    ``calls`` records (method, path, body) for assertions.
    """

    def __init__(self, handler: Callable[[str, str, bytes | None], tuple[int, dict[str, str], Any]]
                 ) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, bytes | None]] = []

    def request(self, method, path, body=None, headers=None) -> Response:
        if body is not None and not isinstance(body, (bytes, bytearray)):
            body = b"".join(body)
        self.calls.append((method, path, body))
        status, hdrs, payload = self.handler(method, path, body)
        if not isinstance(payload, (bytes, bytearray)):
            payload = json.dumps(payload).encode()
        return Response(status, hdrs, _BytesRaw(payload))

    def hijack(self, method, path, body=None, headers=None) -> Hijacked:
        raise Unavailable("FakeTransport cannot hijack")
