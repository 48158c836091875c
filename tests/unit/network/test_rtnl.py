"""hako.linux.rtnl: message encoding and reply parsing (a fake socket), and the requests
against the kernel in a private network namespace (``unshare -n``: nothing on the host
is touched)."""

from __future__ import annotations

import json
import os
import shutil
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


_SCRIPT = r"""
import json, os, sys
from hako.linux import netlink as n
out = {}
n.bridge_create("brt0", 1400)
out["kind"], out["mtu"], out["missing"] = n.link_kind("brt0"), n.link_mtu("brt0"), n.link_index("nope")
n.addr_add("brt0", "10.77.0.1/24"); n.addr_add("brt0", "fd77::1/64"); n.link_up("brt0")
out["addrs"], out["addrs6"] = n.link_addrs("brt0"), n.link_addrs("brt0", 6)
ns = sys.argv[1]
n.create_netns(ns)
n.veth_create("vht0", "eth0", ns, "brt0", 1400, "02:42:0a:4d:00:02")
n.configure_inside(ns, "eth0", ["10.77.0.2/24", "fd77::2/64"], "10.77.0.1", "fd77::1")
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
