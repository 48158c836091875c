"""The request-body decoder a helper uses on a handed-over socket (support.httpbody)."""

from __future__ import annotations

import io
import os
import socket
import threading

import pytest

from hako.errors import InvalidArgument
from hako.support.httpbody import BodyReader


def _reader(wire: bytes, split: int, chunked: bool = True, length: int = 0,
            close: bool = True) -> tuple[BodyReader, socket.socket]:
    """A reader of ``wire``: the first ``split`` bytes as the prefix, the rest sent over a
    non-blocking socket in small pieces by a thread."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)

    def send() -> None:
        rest = wire[split:]
        for i in range(0, len(rest), 7001):
            theirs.sendall(rest[i:i + 7001])
        if close:
            theirs.close()

    threading.Thread(target=send, daemon=True).start()
    return BodyReader(ours.fileno(), wire[:split], chunked, length), ours


def _chunked(data: bytes, size: int, ext: bool = False) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x%s\r\n" % (len(piece), b";name=v" if ext else b"") + piece + b"\r\n"
    return out + b"0\r\nTrailer: x\r\n\r\n"


@pytest.mark.parametrize("split", [0, 1, 5, 100, 40000])
@pytest.mark.parametrize("size", [1, 1000, 32768, 600000])
def test_chunked_body_is_decoded_whole(split, size):
    data = os.urandom(5000 if size == 1 else 700_000)
    r, sock = _reader(_chunked(data, size, ext=size == 1000) + b"NEXT", split, close=False)
    with sock:
        got = io.BufferedReader(r, 1 << 20).read(len(data))
        assert got == data
        assert r.read(10) == b""  # the end of the body, not of the socket
        assert r.done


def test_content_length_body_stops_at_its_length():
    data = os.urandom(300_000)
    r, sock = _reader(data + b"EXTRA", 10, chunked=False, length=len(data), close=False)
    with sock:
        assert io.BufferedReader(r).read() == data
        assert r.done


@pytest.mark.parametrize("wire", [
    b"5\r\nab",  # cut inside a chunk
    b"5\r\nabcde\r\n",  # no last chunk
    b"zz\r\nab\r\n0\r\n\r\n",  # size not hex
    b"0x5\r\nabcde\r\n0\r\n\r\n",  # int(..., 16) would accept it
    b"0x10\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n",  # its data must not be read as a size
    b"+5\r\nabcde\r\n0\r\n\r\n",
    b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n",
    b"5\r\nabcdeXY0\r\n\r\n",  # chunk not followed by CRLF
    b"1" * 20 + b"\r\n",  # absurd size
    b"5" + b" " * 5000,  # a line without end
])
def test_bad_chunked_framing_is_refused(wire):
    r, sock = _reader(wire, 0, close=False)
    with sock:
        with pytest.raises(InvalidArgument):
            r.drain()
        with pytest.raises(InvalidArgument):  # no guessing where the body ends after that
            r.drain()


def test_short_content_length_body_is_an_error_not_an_end():
    r, sock = _reader(b"abc", 0, chunked=False, length=10)
    with sock, pytest.raises(InvalidArgument, match="ended early"):
        io.BufferedReader(r).read()


def test_drain_reads_to_the_end_of_the_body_and_no_further():
    r, sock = _reader(_chunked(b"x" * 100_000, 4096), 3, close=False)
    with sock:
        r.drain()  # returns although the socket stays open: the body's end is known
        assert r.done
        assert r.read(1) == b""
