"""hako.linux.rtnl: message encoding and reply parsing (a fake socket), and the requests
against the kernel in a private network namespace (``unshare -n``: nothing on the host
is touched)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys

import pytest

from hako.linux import rtnl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_attr_pads_to_four_bytes_and_terminates_strings():
    a = rtnl.attr(3, "eth0")
    assert a == struct.pack("=HH", 9, 3) + b"eth0\0" + b"\0" * 3
    assert rtnl.attr(4, 1500) == struct.pack("=HHI", 8, 4, 1500)
    assert rtnl.parse_attrs(a + rtnl.attr(0x8000 | 18, b"xy")) == {3: b"eth0\0", 18: b"xy"}


def test_parse_attrs_stops_at_a_malformed_length():
    assert rtnl.parse_attrs(struct.pack("=HH", 2, 1) + b"\0" * 8) == {}


class FakeSock:
    def __init__(self, replies):
        self.replies, self.sent = list(replies), []

    def send(self, data):
        self.sent.append(data)

    def recvmsg(self, size):
        return self.replies.pop(0), [], 0, None

    def close(self):
        pass


def msg(kind, seq, payload=b""):
    return struct.pack("=IHHII", 16 + len(payload), kind, 0, seq, 0) + payload + b"\0" * (-len(payload) % 4)


def fake(replies):
    nl = rtnl.Rtnl.__new__(rtnl.Rtnl)
    nl.sock, nl.seq = FakeSock(replies), 0
    return nl


def test_request_returns_the_messages_before_the_ack_and_skips_other_sequences():
    nl = fake([msg(16, 9, b"old") + msg(16, 1, b"link"), msg(rtnl.NLMSG_ERROR, 1, struct.pack("=i", 0))])
    assert nl.request(18, b"") == [(16, b"link")]
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", nl.sock.sent[0])
    assert (length, kind, seq) == (16, 18, 1) and flags == rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK


def test_request_raises_the_kernels_errno_and_a_dump_ends_at_done():
    nl = fake([msg(rtnl.NLMSG_ERROR, 1, struct.pack("=i", -17))])
    with pytest.raises(rtnl.NetlinkError) as exc:
        nl.request(16, b"")
    assert exc.value.errno == 17
    nl = fake([msg(20, 2, b"a"), msg(20, 2, b"b") + msg(rtnl.NLMSG_DONE, 2)])
    nl.seq = 1
    assert nl.request(22, b"", dump=True) == [(20, b"a"), (20, b"b")]
    assert struct.unpack_from("=IHHII", nl.sock.sent[0])[2] & rtnl.NLM_F_DUMP == rtnl.NLM_F_DUMP


def attrs(payload: bytes) -> dict[int, bytes]:
    """rtattrs of a payload, by type (the last of each type)."""
    out, offset = {}, 0
    while offset + 4 <= len(payload):
        size, kind = struct.unpack_from("=HH", payload, offset)
        out[kind] = payload[offset + 4:offset + size]
        offset += size + (-size % 4)
    return out


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


class BatchSock:
    """Answers each request of a datagram with an ack (errno from ``codes`` by position),
    split over two reads."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.replies: list[bytes] = []
        self.sent = b""

    def send(self, data: bytes) -> None:
        self.sent = data
        offset, acks = 0, []
        while offset < len(data):
            size, _, flags, seq, _ = struct.unpack_from("=IHHII", data, offset)
            assert flags & rtnl.NLM_F_ACK and flags & rtnl.NLM_F_REQUEST
            err = struct.pack("=i", -self.codes[len(acks)]) + data[offset:offset + 16]
            acks.append(struct.pack("=IHHII", 16 + len(err), rtnl.NLMSG_ERROR, 0, seq, 0) + err)
            offset += size
        self.replies = [b"".join(acks[:1]), b"".join(acks[1:])]

    def recvmsg(self, _n: int):
        return self.replies.pop(0), [], 0, None

    def close(self) -> None:
        pass


def sock_with(codes: list[int]) -> rtnl.Rtnl:
    s = rtnl.Rtnl.__new__(rtnl.Rtnl)
    s.sock, s.seq = BatchSock(codes), 0
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


_SCRIPT = r"""
import json, os, sys
from hako.linux import netlink as n
out = {}
n.bridge_create("brt0", 1400)
out["kind"], out["mtu"], out["missing"] = n.link_kind("brt0"), n.link_mtu("brt0"), n.link_index("nope")
n.addr_add("brt0", "10.77.0.1/24"); n.addr_add("brt0", "fd77::1/64"); n.link_up("brt0")
out["addrs"], out["addrs6"] = n.link_addrs("brt0"), n.link_addrs("brt0", 6)
ns = sys.argv[1]
n.setup_sandbox(ns, True, ("vht0", "eth0"), "brt0", 1400, "02:42:0a:4d:00:02",
                ["10.77.0.2/24", "fd77::2/64"], "10.77.0.1", "fd77::1")
out["inside"] = n.links_inside(ns)
out["nets"], out["nets6"] = n.ip_networks(4), n.ip_networks(6)
try:
    n.bridge_create("brt0")
except n.NetlinkError as exc:
    out["dup"] = exc.errno
out["deleted"] = [n.link_delete("vht0"), n.link_delete("vht0")]
n.remove_netns(ns)
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_requests_against_the_kernel_in_a_private_namespace(tmp_path):
    ns = str(tmp_path / "ns")
    res = subprocess.run(["unshare", "-n", "-m", "--propagation", "private", sys.executable, "-c",
                          _SCRIPT, ns], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["kind"], out["mtu"], out["missing"]) == ("bridge", 1400, None)
    assert out["addrs"] == ["10.77.0.1/24"] and out["addrs6"] == ["fd77::1/64"]
    eth0 = next(link for link in out["inside"] if link["name"] == "eth0")
    assert eth0 == {"name": "eth0", "mac": "02:42:0a:4d:00:02", "up": True, "addrs": ["10.77.0.2/24"]}
    assert any(link["name"] == "lo" and link["up"] for link in out["inside"])
    assert "10.77.0.0/24" in out["nets"] and "fd77::/64" in out["nets6"]
    assert out["dup"] == 17 and out["deleted"] == [True, False]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_container_side_address_broadcast_and_default_routes(tmp_path):
    """What a container sees: the address with its broadcast (as Docker sets it), the
    default routes via the gateways, an IPv6 address without duplicate address detection."""
    script = _SCRIPT.replace('out["deleted"]', 'import subprocess\nout["ip"] = subprocess.run(["nsenter", "--net=" + ns, "sh", "-c", "ip addr show eth0; ip route; ip -6 route"], capture_output=True, text=True).stdout\nout["deleted"]')
    res = subprocess.run(["unshare", "-n", "-m", "--propagation", "private", sys.executable, "-c",
                          script, str(tmp_path / "ns")], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    text = json.loads(res.stdout)["ip"]
    assert "inet 10.77.0.2/24 brd 10.77.0.255 scope global eth0" in text
    assert "default via 10.77.0.1 dev eth0" in text and "default via fd77::1 dev eth0" in text
    assert "inet6 fd77::2/64 scope global nodad" in text
