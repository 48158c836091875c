"""A minimal rtnetlink client for the container start path: a few requests, one socket.

pyroute2 (``netlink.py``) costs 5-10 ms of CPU per container start on this project's
machines: an IPRoute object runs an event loop of its own, every message is an object tree,
and looking a link up by name dumps and decodes every link of the namespace. A sandbox
needs five to eight fixed requests, so they are packed here with ``struct`` and sent in
one ``sendto``, each with ``NLM_F_ACK``; the replies are read until every request is
answered, and the first error is raised as an ``OSError`` with the kernel's errno.

A netlink socket belongs to the network namespace of the thread that opened it, so the
caller opens one per namespace (see ``netlink.setup_sandbox``).

Layer: linux (2). May import: errors, support.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RTA_OIF, RTA_GATEWAY = 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, proto, scope, type, flags


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr (length, type, payload), padded to 4 bytes."""
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _str(value: str) -> bytes:
    return value.encode() + b"\0"


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


def _mac(value: str) -> bytes:
    return bytes(int(x, 16) for x in value.split(":"))


def ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


def veth(name: str, peer: str, peer_ns_fd: int, master: int = 0, mtu: int = 0,
         peer_mac: str = "") -> tuple[int, int, bytes]:
    """RTM_NEWLINK of a veth pair: ``name`` here (enslaved to the link of index ``master``,
    up), ``peer`` in the namespace of ``peer_ns_fd`` (with ``peer_mac``; down: the kernel
    cannot open a veth before its pair is complete, ENOTCONN)."""
    peer_attrs = attr(IFLA_IFNAME, _str(peer)) + attr(IFLA_NET_NS_FD, _u32(peer_ns_fd))
    if mtu:
        peer_attrs += attr(IFLA_MTU, _u32(mtu))
    if peer_mac:
        peer_attrs += attr(IFLA_ADDRESS, _mac(peer_mac))
    info = attr(IFLA_INFO_KIND, _str("veth")) + attr(
        IFLA_INFO_DATA, attr(VETH_INFO_PEER, ifinfo() + peer_attrs))
    body = ifinfo(up=True) + attr(IFLA_IFNAME, _str(name)) + attr(IFLA_LINKINFO, info)
    if mtu:
        body += attr(IFLA_MTU, _u32(mtu))
    if master:
        body += attr(IFLA_MASTER, _u32(master))
    return RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body


def link_up(index: int) -> tuple[int, int, bytes]:
    return RTM_NEWLINK, 0, ifinfo(index, up=True)


def link_delete(name: str) -> tuple[int, int, bytes]:
    return RTM_DELLINK, 0, ifinfo() + attr(IFLA_IFNAME, _str(name))


def addr_add(index: int, cidr: str) -> tuple[int, int, bytes]:
    """RTM_NEWADDR of ``cidr`` (address/prefix) on link ``index``; an IPv6 address without
    duplicate address detection (usable at once)."""
    iface = ipaddress.ip_interface(cidr)
    v6 = iface.version == 6
    raw = iface.ip.packed
    head = _IFADDR.pack(socket.AF_INET6 if v6 else socket.AF_INET, iface.network.prefixlen,
                        IFA_F_NODAD if v6 else 0, 0, index)
    return RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, head + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)


def default_route(index: int, gateway: str) -> tuple[int, int, bytes]:
    """RTM_NEWROUTE of the default route via ``gateway`` (IPv4 or IPv6) out of link ``index``."""
    gw = ipaddress.ip_address(gateway)
    head = _RTMSG.pack(socket.AF_INET6 if gw.version == 6 else socket.AF_INET, 0, 0, 0,
                       RT_TABLE_MAIN, RTPROT_BOOT, 0, RTN_UNICAST, 0)
    return RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, head + attr(RTA_GATEWAY, gw.packed) + attr(RTA_OIF, _u32(index))


class Socket:
    """An rtnetlink socket of the calling thread's network namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, *requests: tuple[int, int, bytes]) -> None:
        """Send ``requests`` in one datagram (the kernel runs them in order) and wait for
        every acknowledgement.

        Raises:
            NetlinkError: the first request the kernel refused (its errno); the later
            ones were still run by the kernel.
        """
        out = bytearray()
        pending: dict[int, int] = {}
        for i, (kind, flags, body) in enumerate(requests):
            self._seq += 1
            pending[self._seq] = i
            out += _HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, self._seq, 0) + body
        self.sock.sendall(out)  # netlink_sendmsg: one datagram, every message in it is handled
        errors: dict[int, int] = {}
        while pending:
            data = self.sock.recv(65536)
            offset = 0
            while offset + _HDR.size <= len(data):
                size, kind, _, seq, _ = _HDR.unpack_from(data, offset)
                if kind == NLMSG_ERROR and seq in pending:
                    code = struct.unpack_from("=i", data, offset + _HDR.size)[0]
                    index = pending.pop(seq)
                    if code:
                        errors[index] = -code
                offset += max(size + (-size % 4), _HDR.size)
        if errors:
            code = errors[min(errors)]
            raise NetlinkError(code, os.strerror(code))  # the text pyroute2's errors had


class NetlinkError(OSError):
    """A netlink request failed (errno and message as the kernel gave them)."""
