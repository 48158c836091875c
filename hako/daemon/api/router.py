"""Route table, request object and response values of the Engine API.

Handlers are ``async def handler(req: Request) -> Response``: they parse the request, call a
service (blocking service calls go through ``await req.run(fn, ...)``), and return one of the
response values below. They raise ``hako.errors`` kinds; ``server.py`` turns those into
Docker's status codes and ``{"message": ...}`` bodies through ``api/errors.py``.

Patterns use ``{name}`` for one path segment and ``{name:.+}`` for a greedy match (image names
contain slashes). Routes are tried in registration order within a method.
"""

from __future__ import annotations

from urllib.parse import unquote

import asyncio
import json
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from hako.errors import InvalidArgument

Handler = Callable[["Request"], Awaitable["Response"]]

_PARAM = re.compile(r"\{(\w+)(?::([^}]+))?\}")


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + "$")


@dataclass
class Route:
    method: str
    pattern: str
    handler: Handler
    min_version: float = 0.0
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = _compile(self.pattern)


class Router:
    """Method + path → handler, with path parameters."""

    def __init__(self) -> None:
        self._routes: dict[str, list[Route]] = {}

    def add(self, method: str, pattern: str, handler: Handler, min_version: float = 0.0) -> None:
        """Register ``handler`` for ``method`` and ``pattern`` (HEAD falls back to GET)."""
        self._routes.setdefault(method.upper(), []).append(
            Route(method.upper(), pattern, handler, min_version)
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """Return the first route matching, with its path parameters, or None."""
        candidates = self._routes.get(method, [])
        if method == "HEAD":
            candidates = candidates + self._routes.get("GET", [])
        for route in candidates:
            m = route.regex.match(path)
            if m:
                # Go's router matches the decoded path: "test%2001" names the network "test 01"
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None


class Request:
    """One API request. Created by the server; handlers read from it."""

    def __init__(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: dict[str, str],
        body_reader: Callable[[], Awaitable[bytes | None]],
        services: Any,
        api_version: float,
        handoff: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.services = services
        self.api_version = api_version
        self.params: dict[str, str] = {}
        self._pairs = parse_qsl(query_string, keep_blank_values=True)
        self.query = dict(self._pairs)
        self._read_chunk = body_reader
        self._handoff = handoff
        self._body: bytes | None = None
        # Set by the server when the client goes away during a streamed response, so a
        # blocking stream (logs --follow) can stop instead of running until its container does.
        self.disconnected = threading.Event()

    # -- query helpers -------------------------------------------------------------------
    def query_all(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k == name]

    def query_bool(self, name: str, default: bool = False) -> bool:
        """Docker's boolean query values: absent → default; "", "0", "false", "no" → False."""
        if name not in self.query:
            return default
        return self.query[name].strip().lower() not in ("", "0", "false", "no", "off")

    def query_int(self, name: str, default: int | None = None) -> int | None:
        value = self.query.get(name, "")
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r}") from None

    def query_filters(self) -> dict[str, list[str]]:
        """Parse the ``filters`` JSON (map of lists, or the old map of {value: bool})."""
        raw = self.query.get("filters", "")
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except ValueError:
            raise InvalidArgument(f"invalid filter '{raw}'") from None
        if not isinstance(doc, dict):
            raise InvalidArgument(f"invalid filter '{raw}'")
        out: dict[str, list[str]] = {}
        for key, value in doc.items():
            if isinstance(value, dict):
                out[key] = [k for k, v in value.items() if v]
            elif isinstance(value, list):
                out[key] = [str(v) for v in value]
            else:
                out[key] = [str(value)]
        return out

    def query_json(self, name: str, default: Any = None) -> Any:
        raw = self.query.get(name, "")
        if not raw:
            return default
        try:
            return json.loads(raw)
        except ValueError:
            raise InvalidArgument(f"invalid JSON in {name}: {raw!r}") from None

    # -- body ----------------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[bytes]:
        """Yield the request body in chunks as it arrives."""
        if self._body is not None:
            if self._body:
                yield self._body
            return
        while True:
            chunk = await self._read_chunk()
            if chunk is None:
                return
            yield chunk

    async def take_body(self) -> Any:
        """The rest of the body as a ``hako.support.httpbody.Handoff`` (the socket, for a
        helper process to read it directly), or None when this connection cannot hand it
        over: then read it with :meth:`stream`. The caller owns (closes) the handoff."""
        if self._handoff is None or self._body is not None:
            return None
        return await self._handoff()

    async def body(self) -> bytes:
        if self._body is None:
            self._body = b"".join([c async for c in self.stream()])
        return self._body

    async def json(self, default: Any = None) -> Any:
        """The body as JSON; an empty body gives ``default``.

        Raises:
            InvalidArgument: the body is not valid JSON.
        """
        data = await self.body()
        if not data.strip():
            return default
        try:
            return json.loads(data)
        except ValueError as exc:
            raise InvalidArgument(f"invalid JSON: {exc}") from None

    async def body_file(self):
        """The whole body spooled into a temporary file, positioned at the start."""
        f = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        loop = asyncio.get_running_loop()
        async for chunk in self.stream():
            if f._rolled or f.tell() + len(chunk) > 8 * 1024 * 1024:  # on disk: off the loop
                await loop.run_in_executor(None, f.write, chunk)
            else:
                f.write(chunk)
        f.seek(0)
        return f

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking function in the default thread pool."""
        loop = asyncio.get_running_loop()
        if kwargs:
            return await loop.run_in_executor(None, lambda: fn(*args, **kwargs))
        return await loop.run_in_executor(None, fn, *args)


class Response:
    status: int = 200
    headers: list[tuple[str, str]]


class JSONResponse(Response):
    def __init__(self, obj: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.obj = obj
        self.status = status
        self.headers = list(headers)

    def body(self) -> bytes:
        return (json.dumps(self.obj, separators=(",", ":")) + "\n").encode()


class TextResponse(Response):
    def __init__(
        self, text: str | bytes, status: int = 200, content_type: str = "text/plain; charset=utf-8",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.data = text.encode() if isinstance(text, str) else text
        self.status = status
        self.headers = [("Content-Type", content_type), *headers]


class EmptyResponse(Response):
    def __init__(self, status: int = 204, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.status = status
        self.headers = list(headers)


class StreamResponse(Response):
    """A chunked body from a sync (run in a thread) or async iterator of bytes."""

    def __init__(
        self,
        chunks: Iterator[bytes] | AsyncIterator[bytes],
        content_type: str = "application/json",
        status: int = 200,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.chunks = chunks
        self.status = status
        self.headers = [("Content-Type", content_type), *headers]


HijackHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class HijackResponse(Response):
    """Take over the connection (attach, exec start): 101 UPGRADED when the client asked
    for it, else a bare 200; then ``handler(reader, writer)`` owns the raw stream.
    ``websocket_accept``: a websocket handshake's answer instead (101 Switching Protocols,
    ``Upgrade: websocket`` and this Sec-WebSocket-Accept)."""

    def __init__(self, handler: HijackHandler, content_type: str = "application/vnd.docker.raw-stream",
                 websocket_accept: str = "") -> None:
        self.handler = handler
        self.status = 101
        self.headers = [("Content-Type", content_type)] if content_type else []
        self.websocket_accept = websocket_accept
