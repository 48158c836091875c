"""A build whose client goes away is cancelled, as Docker's (``context canceled``): the
running RUN step's container is killed and removed, no later step runs and nothing is
tagged."""

from __future__ import annotations

import io
import socket
import tarfile

import pytest

from tests.daemon_harness import poll

pytestmark = pytest.mark.integration


def _context(dockerfile: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tf.addfile(info, io.BytesIO(dockerfile))
    return buf.getvalue()


def _containers(hakod) -> list[str]:
    status, items = hakod.api("GET", "/containers/json", query={"all": "1"})
    assert status == 200
    return [c["Id"] for c in items]


def test_client_leaving_cancels_the_build(hakod):
    before = set(_containers(hakod))
    ctx = _context(b"FROM busybox\nRUN echo started; sleep 300\nRUN touch /never\n")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(hakod.socket)
    sock.sendall(b"POST /v1.41/build?t=cancelled-build:1 HTTP/1.1\r\nHost: d\r\n"
                 b"Content-Type: application/x-tar\r\n"
                 + f"Content-Length: {len(ctx)}\r\n\r\n".encode() + ctx)
    seen = b""
    sock.settimeout(60)
    while b'"stream":"started\\n"' not in seen:  # the RUN step's own output
        chunk = sock.recv(65536)
        assert chunk, seen
        seen += chunk
    step = set(_containers(hakod)) - before
    assert len(step) == 1  # the RUN step's container is running
    sock.close()
    poll(lambda: set(_containers(hakod)) == before, timeout=30)
    status, _ = hakod.api("GET", "/images/cancelled-build:1/json")
    assert status == 404
