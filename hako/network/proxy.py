"""The userland proxy: published ports reachable on 127.0.0.1 (and any host address).

One asyncio loop in one daemon thread serves every published port (Docker runs one
docker-proxy process per port). A port published on all addresses is two bindings, as
Docker's: 0.0.0.0 and ``[::]`` (IPv6-only socket) when the host has IPv6; the IPv6 one
forwards to the container's IPv6 address when it has one, else to its IPv4 address. The listening socket is bound by the caller's thread, so a
port that is already in use fails there with Docker's text, before anything else is done;
``--userland-proxy=false`` still binds (reserves) the port but forwards nothing, as
dockerd's dummy proxy.

TCP: the loop accepts; each connection is then relayed by two threads (one per direction)
that move the bytes with splice(2) through a pipe, never through Python buffers (an
asyncio stream copy managed about 110 MiB/s here, splice several times that: see
``bench/ports.py``); a half-close is passed on, a reset ends both directions. UDP: one
connected socket per client address, replies sent back to it, on the loop.

Layer: network (3). May import: errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from hako.errors import Internal

log = logging.getLogger("hako.proxy")


@dataclass
class Forward:
    host_ip: str
    host_port: int
    proto: str
    target_ip: str
    target_port: int
    sock: socket.socket
    server: Any = field(default=None, repr=False)


def bind(host_ip: str, host_port: int, proto: str, endpoint: str) -> socket.socket:
    """Bind the host side of a published port (port 0: the kernel picks one).

    Raises:
        Internal: Docker's "address already in use" text (a 500, as dockerd's).
    """
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    host_ip = host_ip or "0.0.0.0"
    v6 = ":" in host_ip
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, kind)
    try:
        if v6:  # [::] and 0.0.0.0 are two bindings of the same port, as docker-proxy's
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_ip, host_port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
    except OSError as exc:
        sock.close()
        shown = f"[{host_ip}]" if v6 else host_ip
        raise Internal(f"driver failed programming external connectivity on endpoint {endpoint}: "
                       f"Error starting userland proxy: listen {proto}{6 if v6 else 4} {shown}:{host_port}: "
                       f"bind: {exc.strerror.lower() if exc.strerror else exc}") from None
    sock.setblocking(False)
    return sock


_V6: list[bool] = []


def ipv6_listenable() -> bool:
    """Whether this host can listen on IPv6 (moby's IsV6Listenable: bind ``[::1]:0``)."""
    if not _V6:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
            _V6.append(True)
        except OSError:
            _V6.append(False)
    return _V6[0]


class UserlandProxy:
    """Forwards published ports to containers from a loop of its own."""

    def __init__(self, forward: bool = True) -> None:
        self.forward = forward
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="userland-proxy", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on the proxy's loop (from any other thread); its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure_loop()).result(10)

    def add(self, fwd: Forward) -> None:
        """Start forwarding ``fwd`` (its socket already bound)."""
        if not self.forward:
            return
        loop = self._ensure_loop()
        asyncio.run_coroutine_threadsafe(self._serve(fwd), loop).result(10)

    def remove(self, fwd: Forward) -> None:
        """Stop forwarding and close the port (idempotent)."""
        if self._loop is not None and fwd.server is not None:
            asyncio.run_coroutine_threadsafe(self._close(fwd), self._loop).result(10)
        try:
            fwd.sock.close()
        except OSError:
            pass

    async def _close(self, fwd: Forward) -> None:
        server, fwd.server = fwd.server, None
        if isinstance(server, asyncio.Task):
            server.cancel()
        elif server is not None:
            server.close()

    async def _serve(self, fwd: Forward) -> None:
        loop = asyncio.get_running_loop()
        if fwd.proto == "udp":
            fwd.server, _ = await loop.create_datagram_endpoint(
                lambda: _UdpFront(fwd), sock=fwd.sock)
            return
        fwd.server = loop.create_task(_accept_loop(fwd))


async def _accept_loop(fwd: Forward) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            conn, _ = await loop.sock_accept(fwd.sock)
        except OSError as exc:  # EMFILE and the like: keep serving
            log.warning("proxy %s:%s: accept: %s", fwd.host_ip, fwd.host_port, exc)
            await asyncio.sleep(0.1)
            continue
        threading.Thread(target=_relay, args=(conn, fwd.target_ip, fwd.target_port),
                         name="proxy-relay", daemon=True).start()


def _relay(conn: socket.socket, ip: str, port: int) -> None:
    """Connect to the container and move bytes both ways until both sides are done."""
    conn.setblocking(True)
    try:
        up = socket.create_connection((ip, port), timeout=10)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    other = threading.Thread(target=_splice, args=(up, conn), name="proxy-relay", daemon=True)
    other.start()
    _splice(conn, up)
    other.join()
    conn.close()
    up.close()


_F_SETPIPE_SZ = 1031


def _splice(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` in the kernel until EOF, then half-close ``dst``; on an error
    both sockets are shut down, which ends the other direction too."""
    import fcntl

    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass  # the default 64 KiB pipe works too
        while True:
            n = os.splice(src.fileno(), w, 1 << 20)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dst.fileno(), n)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    finally:
        os.close(r)
        os.close(w)


class _UdpFront(asyncio.DatagramProtocol):
    def __init__(self, fwd: Forward) -> None:
        self.fwd = fwd
        self.transport: asyncio.DatagramTransport | None = None
        self.backs: dict[Any, asyncio.DatagramTransport] = {}

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        back = self.backs.get(addr)
        if isinstance(back, list):  # still opening: queue
            back.append(data)
            return
        if back is not None:
            back.sendto(data)
            return
        self.backs[addr] = [data]
        asyncio.get_running_loop().create_task(self._open_back(addr))

    async def _open_back(self, addr: Any) -> None:
        front = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, reply: bytes, _addr: Any) -> None:
                if front.transport is not None:
                    front.transport.sendto(reply, addr)

        try:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                Back, remote_addr=(self.fwd.target_ip, self.fwd.target_port))
        except OSError:
            self.backs.pop(addr, None)
            return
        queued = self.backs.get(addr) or []
        self.backs[addr] = transport
        for data in queued:
            transport.sendto(data)

    def connection_lost(self, exc: Exception | None) -> None:
        for back in self.backs.values():
            if not isinstance(back, list):
                back.close()
        self.backs.clear()
