"""The API server stops a streamed response when its client goes away (async and blocking
streams), and still serves the next request on a connection whose stream ended normally."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from hako.daemon.api.router import JSONResponse, Router, StreamResponse
from hako.daemon.api.server import ApiServer


def _router(events: dict) -> Router:
    r = Router()

    async def forever(req):
        async def body():
            try:
                yield b"first\n"
                await asyncio.Event().wait()
            finally:
                events["async_closed"] = True
        return StreamResponse(body())

    async def follow(req):
        def body():
            yield b"first\n"
            while not req.disconnected.is_set():
                time.sleep(0.01)
            events["sync_stopped"] = True
        return StreamResponse(body())

    async def short(req):
        return StreamResponse(iter([b"a", b"b"]))

    async def ping(req):
        return JSONResponse({"ok": True})

    r.add("GET", "/forever", forever)
    r.add("GET", "/follow", follow)
    r.add("GET", "/short", short)
    r.add("GET", "/ping", ping)
    return r


async def _scenario(path: str, sock: str, events: dict) -> None:
    reader, writer = await asyncio.open_unix_connection(sock)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = b""
    while b"first" not in data:
        data += await asyncio.wait_for(reader.read(4096), 5)
    writer.close()


async def _until(pred, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.01)
    return False


def test_streams_stop_when_the_client_leaves():
    events: dict = {}

    async def main():
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "api.sock")
            server = ApiServer(_router(events), services=None)
            await server.listen("unix://" + sock)
            try:
                await _scenario("/forever", sock, events)
                assert await _until(lambda: events.get("async_closed"))
                await _scenario("/follow", sock, events)
                assert await _until(lambda: events.get("sync_stopped"))
            finally:
                await server.close()

    asyncio.run(main())


def test_keep_alive_after_a_finished_stream():
    async def main():
        with tempfile.TemporaryDirectory() as d:
            sock = os.path.join(d, "api.sock")
            server = ApiServer(_router({}), services=None)
            await server.listen("unix://" + sock)
            try:
                reader, writer = await asyncio.open_unix_connection(sock)
                writer.write(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                data = b""
                while not data.endswith(b"0\r\n\r\n"):
                    data += await asyncio.wait_for(reader.read(4096), 5)
                assert b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n" in data
                writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                data = b""
                while b'{"ok":true}' not in data:
                    chunk = await asyncio.wait_for(reader.read(4096), 5)
                    assert chunk, data
                    data += chunk
                assert data.startswith(b"HTTP/1.1 200 OK")
                writer.close()
            finally:
                await server.close()

    asyncio.run(main())
