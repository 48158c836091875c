"""A small rtnetlink client: the link, address and route requests hako's networking makes.

One ``Rtnl`` is one ``NETLINK_ROUTE`` socket; it works in the network namespace of the
thread that opened it. Requests are sent with an acknowledgement asked for and the reply is
read until the kernel's ack, error or end of dump::

    with Rtnl() as nl:
        index = nl.link_index("eth0")
        nl.addr_add(index, "10.0.0.2/24")

A container's sandbox sends its fixed requests (built by the module functions ``veth``,
``link_up``, ``addr_add``, ``default_route``…) in one datagram with :meth:`Rtnl.run`, which
waits for every acknowledgement.

Replaced pyroute2 (whose package imports some 160 modules, about 10 MiB of an idle
hakod's memory, which built a private event loop per socket, and whose lookup of a link by
name dumped and decoded every link: a quarter of hakod's CPU per container start). Only
what hako uses is here; the message layouts are the kernel's (``linux/rtnetlink.h``,
``linux/if_link.h``).

Layer: linux (2). May import: nothing of hako.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_NET_NS_FD = 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1

_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type, flags
_NLA = struct.Struct("=HH")
_RECV = 1 << 16


class NetlinkError(OSError):
    """A request failed (errno and message as the kernel gave them)."""


def attr(kind: int, data: bytes | str | int) -> bytes:
    """One attribute (``str``: NUL-terminated, ``int``: u32), padded to 4 bytes."""
    if isinstance(data, str):
        data = data.encode() + b"\0"
    elif isinstance(data, int):
        data = struct.pack("=I", data)
    return _NLA.pack(_NLA.size + len(data), kind) + data + b"\0" * (-len(data) % 4)


def parse_attrs(buf: bytes, offset: int = 0) -> dict[int, bytes]:
    """Attributes from ``offset`` to the end of ``buf`` by type (flag bits masked)."""
    out: dict[int, bytes] = {}
    while offset + _NLA.size <= len(buf):
        length, kind = _NLA.unpack_from(buf, offset)
        if length < _NLA.size:
            break
        out[kind & 0x3FFF] = buf[offset + _NLA.size:offset + length]
        offset += (length + 3) & ~3
    return out


def _str(value: bytes | None) -> str:
    return value.split(b"\0", 1)[0].decode(errors="replace") if value else ""


def _u32(value: bytes | None) -> int:
    return struct.unpack("=I", value[:4])[0] if value else 0


def _ip(family: int, value: bytes | None) -> str:
    return socket.inet_ntop(family, value) if value else ""


# -- requests: (message type, flags, body), sent by Rtnl.run ---------------------------------
Request = tuple  # (type, flags, body)


def ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFO.pack(0, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


def link_new(name: str, kind: str, mtu: int = 0, data: bytes = b"", up: bool = False,
             master: int = 0) -> Request:
    """RTM_NEWLINK of link ``name`` of ``kind`` (``data``: its IFLA_INFO_DATA attributes),
    up and enslaved to the link of index ``master`` when asked."""
    info = attr(IFLA_INFO_KIND, kind) + (attr(IFLA_INFO_DATA, data) if data else b"")
    body = ifinfo(up=up) + attr(IFLA_IFNAME, name) + attr(IFLA_LINKINFO, info)
    if mtu:
        body += attr(IFLA_MTU, mtu)
    if master:
        body += attr(IFLA_MASTER, master)
    return RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body


def veth(name: str, peer: str, peer_netns_fd: int, master: int = 0, mtu: int = 0,
         peer_mac: str = "") -> Request:
    """A veth pair: ``name`` here (enslaved to ``master`` and up when ``master`` is given),
    ``peer`` in the namespace of ``peer_netns_fd`` (with ``peer_mac``; down: the kernel
    cannot open a veth before its pair is complete)."""
    peer_attrs = attr(IFLA_IFNAME, peer) + attr(IFLA_NET_NS_FD, peer_netns_fd)
    if mtu:
        peer_attrs += attr(IFLA_MTU, mtu)
    if peer_mac:
        peer_attrs += attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
    return link_new(name, "veth", mtu, attr(VETH_INFO_PEER, ifinfo() + peer_attrs),
                    up=bool(master), master=master)


def link_up(index: int) -> Request:
    return RTM_NEWLINK, 0, ifinfo(index, up=True)


def link_delete(name: str) -> Request:
    return RTM_DELLINK, 0, ifinfo() + attr(IFLA_IFNAME, name)


def addr_add(index: int, cidr: str) -> Request:
    """``cidr`` (address/prefix) on link ``index``: IPv4 with its broadcast address (as
    Docker's netlink library sets it), IPv6 without duplicate address detection."""
    iface = ipaddress.ip_interface(cidr)
    family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
    flags = IFA_F_NODAD if iface.version == 6 else 0
    body = _IFADDR.pack(family, iface.network.prefixlen, flags, RT_SCOPE_UNIVERSE, index)
    body += attr(IFA_ADDRESS, iface.ip.packed)
    if iface.version == 4:
        body += attr(IFA_LOCAL, iface.ip.packed)
        if iface.network.prefixlen < 31:
            body += attr(IFA_BROADCAST, iface.network.broadcast_address.packed)
    else:
        body += attr(IFA_FLAGS, flags)
    return RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body


def default_route(index: int, gateway: str) -> Request:
    """The default route via ``gateway`` (IPv4 or IPv6) out of link ``index``, main table."""
    gw = ipaddress.ip_address(gateway)
    family = socket.AF_INET if gw.version == 4 else socket.AF_INET6
    body = _RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                       RTN_UNICAST, 0)
    body += attr(RTA_GATEWAY, gw.packed) + attr(RTA_OIF, index)
    return RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body


class Rtnl:
    """One rtnetlink socket in the calling thread's network namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, mtype: int, body: bytes, flags: int = 0,
                dump: bool = False) -> list[tuple[int, bytes]]:
        """Send one message and read the reply: the messages it holds as (type, payload).

        Raises:
            NetlinkError: the kernel answered with an error.
        """
        self.seq += 1
        flags |= NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        self.sock.send(_NLMSG.pack(_NLMSG.size + len(body), mtype, flags, self.seq, 0) + body)
        out: list[tuple[int, bytes]] = []
        while True:
            data, _, msg_flags, _ = self.sock.recvmsg(_RECV)
            if msg_flags & socket.MSG_TRUNC:
                raise NetlinkError(90, "netlink reply truncated")  # EMSGSIZE
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _, seq, _ = _NLMSG.unpack_from(data, offset)
                payload = data[offset + _NLMSG.size:offset + length]
                offset += (max(length, _NLMSG.size) + 3) & ~3
                if seq != self.seq:
                    continue
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", payload)[0]
                    if errno:
                        raise NetlinkError(errno, os.strerror(errno))
                    return out
                out.append((kind, payload))

    def run(self, *requests: Request) -> None:
        """Send ``requests`` in one datagram (the kernel handles them in order) and wait for
        every acknowledgement.

        Raises:
            NetlinkError: the first request the kernel refused (its errno); the later ones
            were still run by the kernel.
        """
        out = bytearray()
        pending: dict[int, int] = {}
        for i, (kind, flags, body) in enumerate(requests):
            self.seq += 1
            pending[self.seq] = i
            out += _NLMSG.pack(_NLMSG.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                               self.seq, 0) + body
        self.sock.send(bytes(out))
        errors: dict[int, int] = {}
        while pending:
            data = self.sock.recvmsg(_RECV)[0]
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _, seq, _ = _NLMSG.unpack_from(data, offset)
                if kind == NLMSG_ERROR and seq in pending:
                    code = struct.unpack_from("=i", data, offset + _NLMSG.size)[0]
                    index = pending.pop(seq)
                    if code:
                        errors[index] = -code
                offset += (max(length, _NLMSG.size) + 3) & ~3
        if errors:
            code = errors[min(errors)]
            raise NetlinkError(code, os.strerror(code))

    # -- links ------------------------------------------------------------------------------
    def link(self, name: str = "", index: int = 0) -> dict | None:
        """The link by name or index (``index``, ``name``, ``kind``, ``mtu``, ``mac``,
        ``flags``), or None when there is none."""
        body = _IFINFO.pack(0, 0, index, 0, 0) + (attr(IFLA_IFNAME, name) if name else b"")
        try:
            msgs = self.request(RTM_GETLINK, body)
        except NetlinkError as exc:
            if exc.errno in (19, 22):  # ENODEV; EINVAL from kernels without lookup by name
                return None
            raise
        return _link(msgs[0][1]) if msgs else None

    def links(self) -> list[dict]:
        return [_link(p) for k, p in self.request(RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0), dump=True)
                if k == RTM_NEWLINK]

    def link_index(self, name: str) -> int | None:
        found = self.link(name)
        return found["index"] if found else None

    def link_add(self, name: str, kind: str, mtu: int = 0, data: bytes = b"") -> None:
        """Create link ``name`` of ``kind`` (``data``: its IFLA_INFO_DATA attributes)."""
        self.run(link_new(name, kind, mtu, data))

    def veth_add(self, name: str, peer: str, peer_netns_fd: int, mtu: int = 0,
                 peer_mac: str = "", master: int = 0) -> None:
        """A veth pair: see :func:`veth`."""
        self.run(veth(name, peer, peer_netns_fd, master, mtu, peer_mac))

    def link_set(self, index: int, up: bool = False, master: int = 0) -> None:
        """Set link ``index`` up and/or enslave it to ``master``."""
        body = _IFINFO.pack(0, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)
        if master:
            body += attr(IFLA_MASTER, master)
        self.request(RTM_NEWLINK, body)

    def link_del(self, index: int) -> None:
        self.request(RTM_DELLINK, _IFINFO.pack(0, 0, index, 0, 0))

    # -- addresses and routes ---------------------------------------------------------------
    def addr_add(self, index: int, cidr: str) -> None:
        """See :func:`addr_add`."""
        self.run(addr_add(index, cidr))

    def addrs(self, family: int, index: int = 0) -> list[tuple[str, int, int]]:
        """Addresses of ``family`` (of link ``index`` when given) as (address, prefix, index)."""
        out = []
        for kind, payload in self.request(RTM_GETADDR, _IFADDR.pack(family, 0, 0, 0, 0), dump=True):
            fam, prefixlen, _, _, idx = _IFADDR.unpack_from(payload)
            if kind != RTM_NEWADDR or fam != family or (index and idx != index):
                continue
            attrs = parse_attrs(payload, _IFADDR.size)
            out.append((_ip(fam, attrs.get(IFA_ADDRESS) or attrs.get(IFA_LOCAL)), prefixlen, idx))
        return out

    def routes(self, family: int, table: int = RT_TABLE_MAIN) -> list[tuple[str, int]]:
        """Destinations (address, prefix length) of the routes of ``family`` in ``table``."""
        out = []
        for kind, payload in self.request(RTM_GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0),
                                          dump=True):
            fam, dst_len, _, _, tab = _RTMSG.unpack_from(payload)[:5]
            attrs = parse_attrs(payload, _RTMSG.size)
            if kind != RTM_NEWROUTE or fam != family or (_u32(attrs.get(RTA_TABLE)) or tab) != table:
                continue
            out.append((_ip(fam, attrs.get(RTA_DST)), dst_len))
        return out

    def default_route_add(self, gateway: str, index: int) -> None:
        """A default route via ``gateway`` out of link ``index`` in the main table."""
        self.run(default_route(index, gateway))

def _link(payload: bytes) -> dict:
    _, _, index, flags, _ = _IFINFO.unpack_from(payload)
    attrs = parse_attrs(payload, _IFINFO.size)
    info = parse_attrs(attrs.get(IFLA_LINKINFO, b""))
    mac = attrs.get(IFLA_ADDRESS, b"")
    return {"index": index, "flags": flags, "name": _str(attrs.get(IFLA_IFNAME)),
            "kind": _str(info.get(IFLA_INFO_KIND)), "mtu": _u32(attrs.get(IFLA_MTU)),
            "mac": ":".join(f"{b:02x}" for b in mac) if mac else None}
