"""hako.support.unixsock: unix sockets reached by paths longer than sun_path allows."""

from __future__ import annotations

import os
import socket

import pytest

from hako.support.unixsock import connect_unix


def _listen(path: str, kind: int) -> socket.socket:
    """A listener at ``path`` (bound through its directory's descriptor when long)."""
    srv = socket.socket(socket.AF_UNIX, kind)
    dfd = os.open(os.path.dirname(path), os.O_PATH)
    try:
        srv.bind(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
    finally:
        os.close(dfd)
    srv.listen(1)
    return srv


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET])
@pytest.mark.parametrize("depth", [1, 12])
def test_connects_short_and_long_paths(tmp_path, kind, depth):
    d = tmp_path.joinpath(*["d" * 12] * depth)
    d.mkdir(parents=True)
    path = str(d / "s.sock")
    assert (len(path.encode()) > 108) == (depth > 1)
    with _listen(path, kind) as srv, socket.socket(socket.AF_UNIX, kind) as sock:
        connect_unix(sock, path)
        conn, _ = srv.accept()
        with conn:
            sock.sendall(b"ping")
            assert conn.recv(4) == b"ping"


def test_failure_closes_the_socket(tmp_path):
    d = tmp_path.joinpath(*["d" * 12] * 12)
    d.mkdir(parents=True)
    for path in (str(tmp_path / "none.sock"), str(d / "none.sock")):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with pytest.raises(FileNotFoundError):
            connect_unix(sock, path)
        assert sock.fileno() == -1
