"""hako.linux.rtnl: the netlink messages of a sandbox, and how acknowledgements are read."""

from __future__ import annotations

import socket
import struct

import pytest

from hako.linux import rtnl


def attrs(payload: bytes) -> dict[int, bytes]:
    """rtattrs of a payload, by type (the last of each type)."""
    out, offset = {}, 0
    while offset + 4 <= len(payload):
        size, kind = struct.unpack_from("=HH", payload, offset)
        out[kind] = payload[offset + 4:offset + size]
        offset += size + (-size % 4)
    return out


def test_attr_is_padded_to_four_bytes():
    assert rtnl.attr(3, b"eth0\0") == struct.pack("=HH", 9, 3) + b"eth0\0" + b"\0\0\0"
    assert len(rtnl.attr(4, struct.pack("=I", 1500))) == 8


def test_veth_creates_an_enslaved_up_host_end_and_a_down_peer_in_the_namespace():
    kind, flags, body = rtnl.veth("vethabc", "eth0", 7, master=12, mtu=1400, peer_mac="02:42:0a:00:00:02")
    assert kind == rtnl.RTM_NEWLINK and flags == rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL
    family, _, index, ifflags, change = struct.unpack_from("=BxHiII", body)
    assert (index, ifflags, change) == (0, rtnl.IFF_UP, rtnl.IFF_UP)
    top = attrs(body[16:])
    assert top[rtnl.IFLA_IFNAME] == b"vethabc\0"
    assert struct.unpack("=I", top[rtnl.IFLA_MASTER])[0] == 12
    assert struct.unpack("=I", top[rtnl.IFLA_MTU])[0] == 1400
    info = attrs(top[rtnl.IFLA_LINKINFO])
    assert info[rtnl.IFLA_INFO_KIND] == b"veth\0"
    peer = attrs(info[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER]
    _, _, _, peer_flags, _ = struct.unpack_from("=BxHiII", peer)
    assert peer_flags == 0  # the kernel cannot open a veth whose pair is not complete yet
    inner = attrs(peer[16:])
    assert inner[rtnl.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", inner[rtnl.IFLA_NET_NS_FD])[0] == 7
    assert inner[rtnl.IFLA_ADDRESS] == bytes([2, 0x42, 10, 0, 0, 2])


def test_addresses_v4_and_v6():
    _, _, body = rtnl.addr_add(2, "10.1.2.3/24")
    family, prefix, flags, scope, index = struct.unpack_from("=BBBBI", body)
    assert (family, prefix, flags, scope, index) == (socket.AF_INET, 24, 0, 0, 2)
    assert attrs(body[8:])[rtnl.IFA_LOCAL] == socket.inet_aton("10.1.2.3")
    _, _, body = rtnl.addr_add(2, "fd00::2/64")
    family, prefix, flags, _, _ = struct.unpack_from("=BBBBI", body)
    assert (family, prefix, flags) == (socket.AF_INET6, 64, rtnl.IFA_F_NODAD)
    assert attrs(body[8:])[rtnl.IFA_ADDRESS] == socket.inet_pton(socket.AF_INET6, "fd00::2")


def test_default_route_via_gateway():
    _, _, body = rtnl.default_route(2, "10.1.2.1")
    family, dst_len, _, _, table, proto, scope, rtype, _ = struct.unpack_from("=BBBBBBBBI", body)
    assert (family, dst_len, table, proto, scope, rtype) == (socket.AF_INET, 0, 254, 3, 0, 1)
    found = attrs(body[12:])
    assert found[rtnl.RTA_GATEWAY] == socket.inet_aton("10.1.2.1")
    assert struct.unpack("=I", found[rtnl.RTA_OIF])[0] == 2
    assert struct.unpack_from("=B", rtnl.default_route(2, "fd00::1")[2])[0] == socket.AF_INET6


class FakeSock:
    """Answers each request of a datagram with an ack (errno from ``codes`` by position),
    split over two reads."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.replies: list[bytes] = []
        self.sent = b""

    def sendall(self, data: bytes) -> None:
        self.sent = data
        offset, acks = 0, []
        while offset < len(data):
            size, _, flags, seq, _ = struct.unpack_from("=IHHII", data, offset)
            assert flags & rtnl.NLM_F_ACK and flags & rtnl.NLM_F_REQUEST
            err = struct.pack("=i", -self.codes[len(acks)]) + data[offset:offset + 16]
            acks.append(struct.pack("=IHHII", 16 + len(err), rtnl.NLMSG_ERROR, 0, seq, 0) + err)
            offset += size
        self.replies = [b"".join(acks[:1]), b"".join(acks[1:])]

    def recv(self, _n: int) -> bytes:
        return self.replies.pop(0)

    def close(self) -> None:
        pass


def sock_with(codes: list[int]) -> rtnl.Socket:
    s = rtnl.Socket.__new__(rtnl.Socket)
    s.sock, s._seq = FakeSock(codes), 0
    return s


def test_run_sends_one_datagram_and_waits_for_every_ack():
    s = sock_with([0, 0, 0])
    s.run(rtnl.link_up(1), rtnl.addr_add(2, "10.0.0.2/24"), rtnl.default_route(2, "10.0.0.1"))
    assert s.sock.replies == []  # both reads were consumed


def test_run_raises_the_first_refusal_with_its_errno():
    s = sock_with([0, 17, 19])
    with pytest.raises(rtnl.NetlinkError) as info:
        s.run(rtnl.link_up(1), rtnl.addr_add(2, "10.0.0.2/24"), rtnl.default_route(2, "10.0.0.1"))
    assert info.value.errno == 17  # the first refusal, not the later ENODEV
