"""HTTP/1.1 server for the Engine API on unix sockets and TCP.

One asyncio task per connection drives an ``h11`` state machine: requests are read, the API
version prefix ``/v1.NN`` is stripped and checked, the route is dispatched, and the response
is written (fixed-length JSON, chunked streams, or a hijacked raw connection for attach and
exec). Errors raised by handlers are mapped to statuses in exactly one place:
``hako.daemon.api.errors``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import h11

from hako.daemon.api import errors as api_errors
from hako.daemon.api.router import (
    EmptyResponse,
    HijackResponse,
    JSONResponse,
    Request,
    Response,
    Router,
    StreamResponse,
    TextResponse,
)

log = logging.getLogger("hako.api")

API_VERSION = "1.41"
MIN_API_VERSION = "1.12"
_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")
SERVER_HEADER = "Docker/20.10.25+hako (linux)"
_STREAM_THREADS = 512
_stream_pool: Any = None


def _stream_executor() -> Any:
    """The thread pool that pulls blocking stream iterators (``logs --follow``, export).

    Such an iterator can block for as long as its container runs; in the loop's default
    pool (``cpu + 4`` threads) a handful of them starved every other request that runs a
    blocking step (create, start, remove, inspect with size): the daemon hung.
    """
    global _stream_pool
    if _stream_pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _stream_pool = ThreadPoolExecutor(_STREAM_THREADS, thread_name_prefix="hako-stream")
    return _stream_pool


def _vt(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@functools.lru_cache(maxsize=None)
def _reason(status: int) -> bytes:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class _Conn:
    """One client connection: an h11 state machine over asyncio streams."""

    def __init__(self, server: "ApiServer", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        self._disconnected = threading.Event()
        self._headers_in: dict[str, str] = {}
        self._body_started = self._handed_off = False

    async def _next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                if self.h11.they_are_waiting_for_100_continue:
                    await self._send(h11.InformationalResponse(status_code=100, headers=[]))
                data = await self.reader.read(65536)
                self.h11.receive_data(data)
                continue
            return event

    async def _send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def read_body_chunk(self) -> bytes | None:
        self._body_started = True
        event = await self._next_event()
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            self._body_done = True
            return None
        raise h11.RemoteProtocolError("unexpected event in body")

    async def handoff_body(self) -> Any:
        """The rest of the request body for another process to read off the socket
        (``hako.support.httpbody``), or None when this connection cannot hand it over (TLS,
        body partly read already). The connection closes after the response."""
        from hako.support.httpbody import Handoff

        sock = self.writer.get_extra_info("socket")
        if sock is None or self.writer.get_extra_info("sslcontext") is not None \
                or self._body_started or self._handed_off:
            return None
        chunked = "chunked" in self._headers_in.get("transfer-encoding", "").lower()
        try:
            length = 0 if chunked else int(self._headers_in.get("content-length") or 0)
        except ValueError:
            return None
        if self.h11.they_are_waiting_for_100_continue:
            await self._send(h11.InformationalResponse(status_code=100, headers=[]))
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]
        buffered = self.reader._buffer  # type: ignore[attr-defined]  # read ahead by the transport
        prefix = self.h11.trailing_data[0] + bytes(buffered)
        buffered.clear()
        self._handed_off = self._body_done = True
        return Handoff(os.dup(sock.fileno()), prefix, chunked, length)

    async def serve(self) -> None:
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, (h11.ConnectionClosed,)) or event is h11.PAUSED:
                    return
                if not isinstance(event, h11.Request):
                    return
                self._body_done = self._body_started = False
                keep = await self._handle(event)
                if not keep or self.h11.our_state is h11.MUST_CLOSE:
                    return
                if not self._body_done:
                    while await self.read_body_chunk() is not None:
                        pass
                try:
                    self.h11.start_next_cycle()
                except h11.LocalProtocolError:
                    return
        except (h11.RemoteProtocolError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("connection dropped: %s", exc)
        finally:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass

    async def _handle(self, event: h11.Request) -> bool:
        method = event.method.decode()
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        self._headers_in = headers
        upgrade = "upgrade" in headers.get("connection", "").lower()
        try:
            version, path = self._version(path)
            req = Request(method, path, query, headers, self.read_body_chunk, self.server.services, version,
                          handoff=self.handoff_body)
            self._disconnected = req.disconnected
            matched = self.server.router.match(method, path)
            if matched is None:
                raise api_errors.PageNotFound("page not found")
            route, req.params = matched
            response = await route.handler(req)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an API error
            status, body = api_errors.to_response(exc, method, path)
            response = JSONResponse(body, status=status) if body is not None else EmptyResponse(status)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %s", method, target, response.status)
        if self._handed_off:  # the body's end is unknown here: no next request on this connection
            response.headers.append(("Connection", "close"))
            await self._write(method, response, upgrade)
            return False
        return await self._write(method, response, upgrade)

    def _version(self, path: str) -> tuple[float, str]:
        m = _VERSION_PREFIX.match(path)
        if not m:
            return float(API_VERSION), path
        version, rest = m.group(1), m.group(2)
        if _vt(version) > _vt(API_VERSION):
            raise api_errors.BadVersion(
                f"client version {version} is too new. Maximum supported API version is {API_VERSION}"
            )
        if _vt(version) < _vt(MIN_API_VERSION):
            raise api_errors.BadVersion(
                f"client version {version} is too old. Minimum supported API version is "
                f"{MIN_API_VERSION}, please upgrade your client to a newer version"
            )
        return float(version), rest

    def _headers(self, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "false"),
            ("Ostype", "linux"),
            ("Server", SERVER_HEADER),
            *extra,
        ]

    async def _write(self, method: str, response: Response, upgrade: bool) -> bool:
        if isinstance(response, HijackResponse):
            await self._hijack(response, upgrade)
            return False
        if isinstance(response, StreamResponse):
            try:
                await self._send(h11.Response(status_code=response.status,
                                              headers=self._headers(response.headers),
                                              reason=_reason(response.status)))
            except BaseException:  # the client is gone: the stream never starts
                await _close_stream(response.chunks)
                raise
            try:
                await self._stream(response.chunks)
            finally:  # read to its end or abandoned (a sync iterator: closed by _pump)
                if hasattr(response.chunks, "__anext__"):
                    await _close_stream(response.chunks)
            await self._send(h11.EndOfMessage())
            return True
        if isinstance(response, JSONResponse):
            body = response.body()
            headers = [("Content-Type", "application/json"), *response.headers]
        elif isinstance(response, TextResponse):
            body, headers = response.data, response.headers
        else:
            body, headers = b"", response.headers
        if response.status not in (204, 304):
            headers = [*headers, ("Content-Length", str(len(body)))]
        events = [h11.Response(status_code=response.status, headers=self._headers(headers),
                               reason=_reason(response.status))]
        if body and method != "HEAD" and response.status not in (204, 304):
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        self.writer.write(b"".join(self.h11.send(event) or b"" for event in events))  # one write
        await self.writer.drain()
        return True

    async def _stream(self, chunks: Iterator[bytes] | AsyncIterator[bytes]) -> None:
        """Send a chunked body; stop early when the client goes away (a ``wait`` or
        ``logs --follow`` whose client disconnected must not live on until its container)."""
        pump = asyncio.ensure_future(self._pump(chunks))
        watcher = asyncio.ensure_future(self._watch_client(pump))
        try:
            await pump
        except asyncio.CancelledError:
            if self._disconnected.is_set():
                raise ConnectionResetError("client went away during a streamed response") from None
            raise
        finally:
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass
            if not pump.done():  # this task was cancelled
                pump.cancel()
                if hasattr(chunks, "__anext__"):  # closed by _write, once the pump let go
                    await asyncio.wait({pump})

    async def _watch_client(self, pump: asyncio.Future) -> None:
        """Read from the client while the response streams: EOF means it left. Bytes of a
        pipelined next request are handed to h11 for later."""
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.h11.receive_data(data)
        except (ConnectionError, OSError, h11.RemoteProtocolError):
            pass
        self._disconnected.set()
        pump.cancel()

    async def _pump(self, chunks: Iterator[bytes] | AsyncIterator[bytes]) -> None:
        """Send the chunks. An async iterator is closed by ``_write`` after (here, the
        disconnect's cancel could land in its cleanup); a sync one here, once a ``next``
        running in the pool has returned."""
        if hasattr(chunks, "__anext__"):
            async for chunk in chunks:  # type: ignore[union-attr]
                if chunk:
                    await self._send(h11.Data(data=chunk))
            return
        loop = asyncio.get_running_loop()
        pool = _stream_executor()
        sentinel = object()
        it = iter(chunks)  # type: ignore[arg-type]
        pending: asyncio.Future | None = None
        try:
            while True:
                pending = loop.run_in_executor(pool, next, it, sentinel)
                chunk = await asyncio.shield(pending)
                pending = None
                if chunk is sentinel:
                    break
                if chunk:
                    await self._send(h11.Data(data=chunk))
        finally:
            if pending is not None:  # cancelled mid-next(): let that call finish first
                try:
                    await pending
                except Exception:  # noqa: BLE001 - the stream is being abandoned
                    pass
            await _close_stream(it)

    async def _hijack(self, response: HijackResponse, upgrade: bool) -> None:
        if not self._body_done:
            while await self.read_body_chunk() is not None:
                pass
        headers = self._headers(response.headers)
        if response.websocket_accept and self.h11.their_state is h11.MIGHT_SWITCH_PROTOCOL:
            await self._send(h11.InformationalResponse(
                status_code=101, reason=b"Switching Protocols",
                headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                         ("Sec-WebSocket-Accept", response.websocket_accept)]))
            leftover = self.h11.trailing_data[0]
        elif upgrade and self.h11.their_state is h11.MIGHT_SWITCH_PROTOCOL:
            await self._send(h11.InformationalResponse(
                status_code=101, reason=b"UPGRADED",
                headers=[("Connection", "Upgrade"), ("Upgrade", "tcp"), *headers]))
            leftover = self.h11.trailing_data[0]
        else:
            head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
            self.writer.write(head.encode())
            await self.writer.drain()
            leftover = self.h11.trailing_data[0] if self.h11.their_state is h11.MIGHT_SWITCH_PROTOCOL else b""
        if leftover:
            self.reader._buffer[0:0] = leftover  # type: ignore[attr-defined]  # re-queue bytes h11 read ahead
        await _head_consumed(self.writer)
        await response.handler(self.reader, self.writer)


async def _close_stream(chunks: Iterator[bytes] | AsyncIterator[bytes]) -> None:
    """Close a streamed answer's iterator (its cleanup: a cp helper ended, the container's
    lock released, an export's thread stopped). It runs in a task of its own, to its end
    even if this one is cancelled meanwhile; a sync iterator is closed in the stream pool
    (its ``close`` may block)."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await asyncio.shield(asyncio.ensure_future(aclose()))
        return
    close = getattr(chunks, "close", None)
    if close is not None:
        loop = asyncio.get_running_loop()
        await asyncio.shield(loop.run_in_executor(_stream_executor(), close))


async def _head_consumed(writer: asyncio.StreamWriter, timeout: float = 0.25) -> None:
    """Wait (bounded) until the client has read the response head off a unix socket.

    docker-py reads the head through http.client's buffered reader, then the stream from
    the raw socket: stream bytes that arrive with the head land in that buffer and are lost
    (``attach(logs=True, stream=False)`` of a finished container read nothing one time in
    ten). On a unix socket, SIOCOUTQ counts the bytes the peer has not read yet.
    """
    sock = writer.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return
    import fcntl
    import struct
    import termios

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            unread = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
        except OSError:
            return
        if unread == 0:
            return
        await asyncio.sleep(0.001)


class ApiServer:
    """Serves ``router`` on the given listen addresses (``unix://path``, ``tcp://host:port``)."""

    def __init__(self, router: Router, services: Any) -> None:
        self.router = router
        self.services = services
        self._servers: list[asyncio.AbstractServer] = []
        self._conns: set[asyncio.Task] = set()

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await _Conn(self, reader, writer).serve()
        finally:
            self._conns.discard(task)

    async def listen(self, address: str, ssl_context: Any = None, activated: list[int] = ()) -> None:
        """Start listening on ``address``: ``unix://path``, ``tcp://host:port`` or, under
        socket activation, ``fd://`` (every socket handed over) or ``fd://N``.

        Raises:
            InvalidArgument: the address scheme is not unix://, tcp:// or fd://, or fd:// names
            no socket activation gave (dockerd's texts).
        """
        from hako.errors import InvalidArgument

        if address.startswith("fd://"):
            from hako.support import systemd

            for fd in systemd.select_fds(address[len("fd://"):], list(activated)):
                sock = socket.socket(fileno=fd)
                if sock.family == socket.AF_UNIX:
                    server = await asyncio.start_unix_server(self._on_conn, sock=sock, limit=1 << 20)
                else:
                    server = await asyncio.start_server(self._on_conn, sock=sock, ssl=ssl_context,
                                                        limit=1 << 20)
                self._servers.append(server)
            return
        if address.startswith("unix://"):
            path = address[len("unix://"):]
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            if os.path.exists(path):
                os.unlink(path)
            server = await asyncio.start_unix_server(self._on_conn, path, limit=1 << 20)
            os.chmod(path, 0o660)
        elif address.startswith(("tcp://", "http://")):
            hostport = address.split("://", 1)[1]
            host, _, port = hostport.rpartition(":")
            server = await asyncio.start_server(
                self._on_conn, host or "127.0.0.1", int(port or 2375), ssl=ssl_context, limit=1 << 20)
        else:
            raise InvalidArgument(f"invalid listen address: {address}")
        self._servers.append(server)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._conns):
            task.cancel()
        for server in self._servers:
            await server.wait_closed()
