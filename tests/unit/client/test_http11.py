"""The CLI's HTTP/1.1 client against canned answers on a socketpair."""

from __future__ import annotations

import socket
import threading

import pytest

from hako.client.http11 import Connection, ProtocolError


def _serve(answer: bytes):
    """A connection whose peer records the request and writes ``answer``, then closes."""
    a, b = socket.socketpair()
    got = bytearray()

    def peer():
        b.settimeout(5)
        while b"\r\n\r\n" not in got:
            got.extend(b.recv(65536))
        head = bytes(got).split(b"\r\n\r\n", 1)[0].lower()
        if b"transfer-encoding: chunked" in head:
            while not got.endswith(b"0\r\n\r\n"):
                got.extend(b.recv(65536))
        elif b"content-length:" in head:
            n = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            while len(got) < len(bytes(got).split(b"\r\n\r\n", 1)[0]) + 4 + n:
                got.extend(b.recv(65536))
        b.sendall(answer)
        b.close()

    t = threading.Thread(target=peer)
    t.start()
    return Connection(lambda timeout: a), got, t


def test_content_length_body_and_request_framing():
    conn, got, t = _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nApi-Version: 1.45\r\n\r\nhelloEXTRA")
    resp = conn.request("POST", "/v1.45/x", body=b'{"a":1}', headers={"Host": "docker"})
    assert resp.status == 200 and ("Api-Version", "1.45") in resp.getheaders()
    assert resp.read() == b"hello"  # never past Content-Length
    assert resp.read1() == b""
    conn.close()
    t.join()
    assert bytes(got).startswith(b"POST /v1.45/x HTTP/1.1\r\n")
    assert b"Content-Length: 7\r\n" in got and got.endswith(b'\r\n\r\n{"a":1}')


def test_chunked_body_read1_readline_across_chunks():
    body = b"5\r\nab\ncd\r\n3;ext=1\r\nef\n\r\n4\r\ngh\ni\r\n0\r\nTrailer: x\r\n\r\n"
    conn, _, t = _serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    resp = conn.request("GET", "/events")
    assert resp.readline() == b"ab\n"
    assert resp.readline() == b"cdef\n"
    assert resp.read1(1) == b"g"
    assert resp.read() == b"h\ni"
    assert resp.readline() == b"" and resp.read1() == b""
    conn.close()
    t.join()


def test_iterable_and_file_bodies_are_sent_chunked():
    import io

    for body in ([b"abc", b"", b"defg"], io.BytesIO(b"abcdefg")):
        conn, got, t = _serve(b"HTTP/1.1 204 No Content\r\n\r\n")
        resp = conn.request("PUT", "/archive", body=body)
        assert resp.status == 204 and resp.read() == b""
        conn.close()
        t.join()
        assert b"Transfer-Encoding: chunked\r\n" in got
        payload = bytes(got).split(b"\r\n\r\n", 1)[1]
        assert payload in (b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", b"7\r\nabcdefg\r\n0\r\n\r\n")


def test_body_until_close_head_and_empty_post():
    conn, got, t = _serve(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    resp = conn.request("POST", "/x")
    assert resp.read() == b"all of it"
    conn.close()
    t.join()
    assert b"Content-Length: 0\r\n" in got
    conn, _, t = _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    assert conn.request("HEAD", "/x").read() == b""
    conn.close()
    t.join()


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 2x0 OK\r\n\r\n",
])
def test_malformed_status_line_is_a_protocol_error(answer):
    conn, _, t = _serve(answer)
    with pytest.raises(ProtocolError):
        conn.request("GET", "/x")
    conn.close()
    t.join()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
])
def test_truncated_bodies_are_errors_not_short_reads(answer):
    conn, _, t = _serve(answer)
    resp = conn.request("GET", "/x")
    with pytest.raises(ProtocolError):
        resp.read()
    conn.close()
    t.join()
