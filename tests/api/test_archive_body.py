"""``PUT /containers/{id}/archive`` reads its body straight off the client's socket (the
daemon hands the connection to the cp helper): every framing a client may send, errors that
still reach a client that keeps sending, and the connection closed after the answer.

Each test removes the container it made.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import uuid

import pytest

pytestmark = pytest.mark.integration


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def ctr(hakod):
    name = f"body-{uuid.uuid4().hex[:8]}"
    status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]},
                             query={"name": name})
    assert status == 201, body
    yield name
    hakod.api("DELETE", f"/containers/{name}", query={"force": "1"})


def _exchange(hakod, head: bytes, body_pieces: list[bytes], wait_continue: bool = False) -> bytes:
    """Send a request by hand; returns everything the daemon sent until it closed."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(hakod.socket)
    with s:
        s.sendall(head)
        if wait_continue:
            got = b""
            while b"\r\n\r\n" not in got:
                got += s.recv(4096)
            assert got.startswith(b"HTTP/1.1 100 ")
        for piece in body_pieces:
            s.sendall(piece)
        data = b""
        while True:
            more = s.recv(65536)
            if not more:
                return data
            data += more


def _head(ctr: str, path: str, extra: str) -> bytes:
    return (f"PUT /containers/{ctr}/archive?path={path} HTTP/1.1\r\nHost: d\r\n"
            f"Content-Type: application/x-tar\r\n{extra}\r\n").encode()


def _chunks(data: bytes, size: int) -> list[bytes]:
    out = [b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n"
           for i in range(0, len(data), size)]
    return out + [b"0\r\n\r\n"]


def _read_back(hakod, ctr: str, path: str) -> bytes:
    status, body = hakod.api("GET", f"/containers/{ctr}/archive", query={"path": path})
    assert status == 200, body
    with tarfile.open(fileobj=io.BytesIO(body)) as tf:
        member = tf.next()
        return tf.extractfile(member).read()


def test_content_length_body(hakod, ctr):
    data = os.urandom(3 << 20)
    status, body = hakod.api("PUT", f"/containers/{ctr}/archive", query={"path": "/tmp"},
                             raw=_tar({"big": data}))
    assert status == 200, body
    assert _read_back(hakod, ctr, "/tmp/big") == data


def test_chunked_body_with_expect_continue_and_connection_closed(hakod, ctr):
    data = os.urandom(1 << 20) + b"tail"
    reply = _exchange(hakod, _head(ctr, "/tmp", "Transfer-Encoding: chunked\r\n"
                                   "Expect: 100-continue\r\n"),
                      _chunks(_tar({"f": data}), 32768), wait_continue=True)
    head = reply.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200"), reply[:300]
    assert b"connection: close" in head
    assert _read_back(hakod, ctr, "/tmp/f") == data


def test_error_reaches_a_client_that_sends_its_whole_body(hakod, ctr):
    wire = _chunks(_tar({"f": os.urandom(4 << 20)}), 65536)
    reply = _exchange(hakod, _head(ctr, "/no/such/dir", "Transfer-Encoding: chunked\r\n"), wire)
    assert reply.startswith(b"HTTP/1.1 404"), reply[:300]
    assert b"Could not find the file /no/such/dir in container" in reply


def test_bad_chunk_framing_is_refused(hakod, ctr):
    reply = _exchange(hakod, _head(ctr, "/tmp", "Transfer-Encoding: chunked\r\n"),
                      [b"0x10\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n"])
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert b"bad chunk size" in reply
