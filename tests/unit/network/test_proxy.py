"""The userland proxy on loopback only: TCP with half-close and UDP replies, to echo servers
the test runs itself."""

from __future__ import annotations

import socket
import threading

import pytest

from hako.errors import Internal
from hako.network.proxy import Forward, UserlandProxy, bind


def _tcp_echo() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def _udp_echo() -> tuple[socket.socket, int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))

    def serve() -> None:
        data, addr = srv.recvfrom(65536)
        srv.sendto(b"echo:" + data, addr)

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_tcp_forward_with_half_close():
    srv, target = _tcp_echo()
    proxy = UserlandProxy()
    fwd = Forward("127.0.0.1", 0, "tcp", "127.0.0.1", target, bind("127.0.0.1", 0, "tcp", "t"))
    proxy.add(fwd)
    try:
        port = fwd.sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(b"x" * 200_000)
            c.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := c.recv(65536):
                got += chunk
        assert got == b"X" * 200_000
    finally:
        proxy.remove(fwd)
        srv.close()


def test_udp_forward_and_reply():
    srv, target = _udp_echo()
    proxy = UserlandProxy()
    fwd = Forward("127.0.0.1", 0, "udp", "127.0.0.1", target, bind("127.0.0.1", 0, "udp", "u"))
    proxy.add(fwd)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(5)
            c.sendto(b"hi", ("127.0.0.1", fwd.sock.getsockname()[1]))
            assert c.recvfrom(100)[0] == b"echo:hi"
    finally:
        proxy.remove(fwd)
        srv.close()


def test_bind_in_use_is_dockers_text():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        with pytest.raises(Internal, match=f"Error starting userland proxy: listen tcp4 127.0.0.1:{port}: "
                                           "bind: address already in use"):
            bind("127.0.0.1", port, "tcp", "web (abc)")
    finally:
        holder.close()
