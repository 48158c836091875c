"""GET /containers/{id}/attach/ws: the attach over an RFC 6455 websocket (dockerd's
golang.org/x/net/websocket server), driven by a minimal client written here over the unix
socket: the handshake, stdin from the client's masked messages, output as unmultiplexed
text messages, log replay, and hostile frames (unmasked, oversized) closing the connection."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import time

import pytest

pytestmark = pytest.mark.integration

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Ws:
    def __init__(self, hakod, path: str, origin: str | None = "http://localhost", version: str = "13"):
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(hakod.socket)
        head = (f"GET {path} HTTP/1.1\r\nHost: docker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: {version}\r\n")
        if origin:
            head += f"Origin: {origin}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = raw.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def recv(self) -> tuple[int, bytes]:
        b0, b1 = self._exact(2)
        assert not b1 & 0x80, "the server masked a frame"
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        return b0 & 0x0F, self._exact(n)

    def send(self, payload: bytes, opcode: int = 1, masked: bool = True, length: int | None = None):
        n = len(payload) if length is None else length
        head = bytes([0x80 | opcode])
        bit = 0x80 if masked else 0
        if n < 126:
            head += bytes([bit | n])
        elif n < 1 << 16:
            head += bytes([bit | 126]) + struct.pack("!H", n)
        else:
            head += bytes([bit | 127]) + struct.pack("!Q", n)
        if masked:
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            head += mask
        self.sock.sendall(head + payload)

    def messages_until_close(self, deadline: float = 10) -> tuple[bytes, int | None]:
        out, end = b"", time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                op, data = self.recv()
            except (EOFError, OSError):
                return out, None
            if op == 8:
                return out, struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            assert op == 1, op  # text frames, as x/net/websocket's default
            out += data
        raise AssertionError("no close within the deadline")


def _create(hakod, cmd, **config):
    status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd, **config})
    assert status == 201, body
    return body["Id"]


def test_handshake_and_interactive_stdin(hakod):
    cid = _create(hakod, ["sh", "-c", "read line; echo got:$line; echo err >&2"], OpenStdin=True)
    try:
        ws = Ws(hakod, f"/containers/{cid}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1")
        assert ws.status == 101
        assert ws.headers["upgrade"].lower() == "websocket"
        expect = base64.b64encode(hashlib.sha1(ws.key.encode() + GUID).digest()).decode()
        assert ws.headers["sec-websocket-accept"] == expect
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        ws.send(b"hello\n")
        text, code = ws.messages_until_close()
        # no 8-byte stream headers: the output as the container wrote it
        assert b"got:hello\n" in text and b"err\n" in text and b"\x01\x00\x00\x00" not in text
        assert code == 1000
        assert hakod.api("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 0
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


def test_logs_replay_of_a_finished_container(hakod):
    cid = _create(hakod, ["echo", "from the log"])
    try:
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        assert hakod.api("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 0
        ws = Ws(hakod, f"/containers/{cid}/attach/ws?logs=1&stdout=1")
        assert ws.status == 101
        text, _ = ws.messages_until_close()
        assert text == b"from the log\n"
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


@pytest.mark.parametrize("kwargs,status", [({"origin": None}, 403), ({"version": "8"}, 400)])
def test_bad_handshakes_are_refused(hakod, kwargs, status):
    cid = _create(hakod, ["true"])
    try:
        assert Ws(hakod, f"/containers/{cid}/attach/ws?stream=1&stdout=1", **kwargs).status == status
        assert Ws(hakod, "/containers/hako-no-such/attach/ws?stream=1").status == 404
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


@pytest.mark.parametrize("hostile,code", [
    ({"masked": False}, 1002),  # clients must mask (RFC 6455 5.1)
    ({"length": 1 << 40}, 1009),  # a terabyte announced: refused before any of it is read
])
def test_hostile_frames_close_the_connection(hakod, hostile, code):
    cid = _create(hakod, ["cat"], OpenStdin=True)
    try:
        ws = Ws(hakod, f"/containers/{cid}/attach/ws?stream=1&stdin=1&stdout=1")
        assert ws.status == 101
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        ws.send(b"x" * 8, **hostile)
        _, got = ws.messages_until_close()
        assert got == code
        # the daemon is fine: the container still answers
        status, body = hakod.api("GET", f"/containers/{cid}/json")
        assert status == 200 and body["State"]["Running"]
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})
