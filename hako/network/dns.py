"""The embedded DNS server of user-defined networks: 127.0.0.11:53 inside each container.

The UDP socket is made inside the container's namespace (a thread that entered it binds
it; 127.0.0.0/8 is local on ``lo``, so no NAT is needed) and served from the userland
proxy's loop in the daemon. A/IN questions for container names, network aliases and short
ids on the container's networks are answered from ``lookup(container id, name)``; other
names are forwarded to the host's (non-loopback) resolvers and the answer relayed; with no
resolver the answer is SERVFAIL.

Layer: network (3). May import: errors, linux.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from typing import Any, Callable

log = logging.getLogger("hako.dns")

ADDRESS = "127.0.0.11"
Lookup = Callable[[str, str], list[str]]


def parse_question(packet: bytes) -> tuple[int, int, str, int, int, int] | None:
    """(id, flags, name, qtype, qclass, end offset) of a one-question query, or None."""
    if len(packet) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, pos = [], 12
    while pos < len(packet):
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0 or pos + length > len(packet):
            return None
        labels.append(packet[pos:pos + length].decode("ascii", "replace"))
        pos += length
    if pos + 4 > len(packet):
        return None
    qtype, qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, qclass, pos + 4


def answer(packet: bytes, end: int, flags: int, addrs: list[str], rcode: int = 0) -> bytes:
    """A response to ``packet``: its question, and one A or AAAA record (TTL 600) per address."""
    qid = struct.unpack("!H", packet[:2])[0]
    rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode  # QR, AA, RD copied, RA
    head = struct.pack("!HHHHHH", qid, rflags, 1, len(addrs), 0, 0)
    body = packet[12:end]
    for addr in addrs:
        packed = ipaddress.ip_address(addr).packed
        body += struct.pack("!HHHIH", 0xC00C, 1 if len(packed) == 4 else 28, 1, 600, len(packed)) + packed
    return head + body


class _Server(asyncio.DatagramProtocol):
    def __init__(self, cid: str, lookup: Lookup, upstreams: list[str]) -> None:
        self.cid, self.lookup, self.upstreams = cid, lookup, upstreams
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        q = parse_question(data)
        if q is None:
            return
        _, flags, name, qtype, qclass, end = q
        found = self.lookup(self.cid, name.rstrip(".").lower()) if qclass == 1 else []
        if found:  # A: the IPv4 addresses, AAAA: the IPv6 ones (networks with IPv6), others: none
            want = {1: 4, 28: 6}.get(qtype)
            self.transport.sendto(answer(data, end, flags, [a for a in found if want and
                                                            ipaddress.ip_address(a).version == want]), addr)
            return
        if "." not in name.rstrip(".") and not self.upstreams:
            self.transport.sendto(answer(data, end, flags, [], rcode=3), addr)  # NXDOMAIN
            return
        asyncio.get_running_loop().create_task(self._forward(data, end, flags, addr))

    async def _forward(self, data: bytes, end: int, flags: int, addr: Any) -> None:
        loop = asyncio.get_running_loop()
        for server in self.upstreams:
            fut: asyncio.Future = loop.create_future()

            class Up(asyncio.DatagramProtocol):
                def datagram_received(self, reply: bytes, _a: Any) -> None:
                    if not fut.done():
                        fut.set_result(reply)

            transport, _ = await loop.create_datagram_endpoint(Up, remote_addr=(server, 53))
            try:
                transport.sendto(data)
                reply = await asyncio.wait_for(fut, 2.0)
            except (asyncio.TimeoutError, OSError):
                continue
            finally:
                transport.close()
            self.transport.sendto(reply, addr)
            return
        self.transport.sendto(answer(data, end, flags, [], rcode=2), addr)  # SERVFAIL


def host_upstreams(resolv_text: str) -> list[str]:
    out = []
    for line in resolv_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                ip = ipaddress.ip_address(parts[1])
            except ValueError:
                continue
            if ip.version == 4 and not ip.is_loopback:
                out.append(parts[1])
    return out


def bind_in(netns_path: str) -> socket.socket:
    """A UDP socket on 127.0.0.11:53 inside the namespace."""
    from hako.linux import netlink

    def work() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((ADDRESS, 53))
        sock.setblocking(False)
        return sock

    return netlink.in_netns(netns_path, work)


async def serve(sock: socket.socket, cid: str, lookup: Lookup, upstreams: list[str]) -> Any:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Server(cid, lookup, upstreams), sock=sock)
    return transport
