"""RFC 6455 websockets for ``GET /containers/{id}/attach/ws`` (what dockerd serves with
golang.org/x/net/websocket): the handshake checks, and a reader/writer pair with the
asyncio stream interface ``AttachSession`` pumps through, one message per frame.

The client's frames are hostile input: each must be masked (RFC 6455 5.1), its payload is
bounded (``MAX_PAYLOAD``; a larger one closes the connection with 1009 before anything is
read into memory), and control frames are answered (ping → pong, close → close). Messages
go out as text frames, as x/net/websocket's default ``PayloadType`` (API 1.41).

Layer: daemon (6). May import: errors.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from typing import Any

from hako.errors import InvalidArgument, PermissionDenied

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_PAYLOAD = 1 << 20
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for the client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def check_handshake(headers: dict[str, str]) -> str:
    """The handshake's checks (x/net/websocket's, with its refusals); returns the key.

    Raises:
        InvalidArgument: not a version-13 websocket upgrade with a key.
        PermissionDenied: no Origin (x/net/websocket's "null origin", a 403).
    """
    if headers.get("upgrade", "").lower() != "websocket" \
            or "upgrade" not in headers.get("connection", "").lower():
        raise InvalidArgument("not a websocket handshake: 'Upgrade: websocket' is missing")
    if headers.get("sec-websocket-version", "") != "13":
        raise InvalidArgument("missing or bad WebSocket Version")
    key = headers.get("sec-websocket-key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError(key)
    except ValueError:
        raise InvalidArgument("mismatch challenge/response: bad Sec-WebSocket-Key") from None
    if not headers.get("origin"):
        raise PermissionDenied("null origin")
    return key


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (the server never masks)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


class WsWriter:
    """The StreamWriter side: each ``write`` is one message (a text frame)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.closed = False

    def write(self, data: bytes) -> None:
        if data and not self.closed:
            self.writer.write(frame(TEXT, bytes(data)))

    def control(self, opcode: int, payload: bytes = b"") -> None:
        if not self.closed:
            self.writer.write(frame(opcode, payload[:125]))

    async def drain(self) -> None:
        await self.writer.drain()

    def can_write_eof(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.writer.get_extra_info(name, default)

    def close(self, code: int = 1000) -> None:
        """Send the close frame (once), then close the connection."""
        if not self.closed:
            self.control(CLOSE, struct.pack("!H", code))
            self.closed = True
        self.writer.close()


class WsReader:
    """The StreamReader side: ``read`` gives the payloads of the client's data frames;
    b"" once the client closes (or breaks the protocol, which closes the connection)."""

    def __init__(self, reader: asyncio.StreamReader, writer: WsWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._buf = b""
        self._eof = False

    async def read(self, n: int = -1) -> bytes:
        while not self._buf and not self._eof:
            try:
                self._buf = await self._next_message()
            except (asyncio.IncompleteReadError, ConnectionError):
                self._eof = True
        if n < 0 or n >= len(self._buf):
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:n], self._buf[n:]
        return data

    async def _next_message(self) -> bytes:
        """The payload of the next data frame; control frames are handled on the way."""
        while True:
            b0, b1 = await self.reader.readexactly(2)
            opcode, masked, n = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            if not masked or b0 & 0x70:  # unmasked client frame, or reserved bits: protocol error
                return self._fail(1002)
            if n > MAX_PAYLOAD or opcode >= 0x8 and n > 125:
                return self._fail(1009)
            mask = await self.reader.readexactly(4)
            payload = unmask(await self.reader.readexactly(n), mask)
            if opcode == CLOSE:
                self.writer.close()
                self._eof = True
                return b""
            if opcode == PING:
                self.writer.control(PONG, payload)
                continue
            if opcode in (TEXT, BINARY, CONTINUATION):
                if payload:
                    return payload
                continue
            if opcode != PONG:
                return self._fail(1002)

    def _fail(self, code: int) -> bytes:
        self.writer.close(code)
        self._eof = True
        return b""
