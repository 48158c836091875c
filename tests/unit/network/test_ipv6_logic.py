"""IPv6 pieces of the pure networking logic: pools, the ip6 rule text, hosts lines, AAAA
answers, moby's MAC-made addresses and the [::] bindings of the userland proxy."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from hako.errors import Internal, InvalidArgument, PermissionDenied
from hako.network import dns, hosts, networks, rules
from hako.network.ipam import Ipam
from hako.network.proxy import bind
from hako.network.service import _from_mac

POOLS = (("10.250.0.0/16", 24),)


def test_ipam_config_one_pool_per_family_v4_first():
    cfgs = networks.ipam_config([{"Subnet": "fd68:6b6f:1::/64"}, {"Subnet": "10.9.0.0/24"}], [], POOLS)
    assert cfgs == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"},
                    {"Subnet": "fd68:6b6f:1::/64", "Gateway": "fd68:6b6f:1::1"}]
    only6 = networks.ipam_config([{"Subnet": "2001:389::/64", "IPRange": "2001:389::/96",
                                   "Gateway": "2001:389::ffff"}], [], POOLS, enable_ipv6=True)
    assert only6[0] == {"Subnet": "10.250.0.0/24", "Gateway": "10.250.0.1"}
    assert only6[1] == {"Subnet": "2001:389::/64", "IPRange": "2001:389::/96", "Gateway": "2001:389::ffff"}


@pytest.mark.parametrize("configs,used6,enable,error", [
    ([], [], True, InvalidArgument),  # no default IPv6 pools
    ([{"Subnet": "fd68::/64"}, {"Subnet": "fd69::/64"}], [], False, InvalidArgument),
    ([{"Subnet": "fd68:6b6f:1::/80"}], ["fd68:6b6f:1::/64"], True, PermissionDenied),
    ([{"Subnet": "fd68::/64", "IPRange": "10.0.0.0/24"}], [], True, InvalidArgument),
    ([{"Subnet": "fd68::/64", "Gateway": "fd69::1"}], [], True, InvalidArgument),
])
def test_ipam_config_ipv6_refusals(configs, used6, enable, error):
    with pytest.raises(error):
        networks.ipam_config(configs, [], POOLS, used6, enable)


def test_ipam_v6_pool_sequential_after_gateway_and_requested(tmp_path):
    ipam = Ipam(str(tmp_path))
    ipam.set_pool("n/6", "fd68:6b6f:2::/64", "fd68:6b6f:2::1")
    assert ipam.allocate("n/6", "a") == "fd68:6b6f:2::2"
    assert ipam.allocate("n/6", "b", "fd68:6b6f:2::f00d") == "fd68:6b6f:2::f00d"
    assert ipam.allocate("n/6", "c") == "fd68:6b6f:2::3"


def test_default_bridge_address_made_of_the_mac():
    assert _from_mac("fd68:6b6f:20::/64", "02:42:ac:11:00:02") == "fd68:6b6f:20::242:ac11:2"


def test_ip6_rules_masquerade_isolate_and_dnat_to_bracketed_targets():
    text = rules.build("hako0", "fd68:1::/64", True, [], [("::", 8080, "tcp", "fd68:1::2", 80)],
                       [("br-x", "fd68:2::/64", False), ("br-y", "", True)], "ip6")
    assert 'ip6 saddr fd68:1::/64 oifname != "hako0" masquerade' in text
    assert 'ip6 saddr fd68:2::/64 oifname != "br-x" masquerade' in text
    assert 'iifname "hako0" oifname "br-x" drop' in text and 'iifname "br-y" oifname != "br-y" drop' in text
    assert 'iifname != "hako0" tcp dport 8080 dnat to [fd68:1::2]:80' in text
    assert "ip6 daddr != ::1 fib daddr type local jump ports" in text


def test_loopback_dnat_without_the_proxy():
    text = rules.build("hako0", "10.1.0.0/24", True, [], [("", 8080, "tcp", "10.1.0.2", 80)],
                       loopback_dnat=True)
    assert "\nfib daddr type local jump ports\n}" in text.split("chain output")[1] + "\n"
    assert 'oifname "hako0" fib saddr type local masquerade' in text
    assert "127.0.0.0/8" not in rules.build("hako0", "10.1.0.0/24", True, [], [("", 1, "tcp", "10.1.0.2", 2)],
                                            loopback_dnat=True)


def test_hosts_file_ipv4_then_ipv6_record():
    assert hosts.hosts_file("web", "", "10.1.0.2", [], "fd68::2").endswith("10.1.0.2\tweb\nfd68::2\tweb\n")


def _query(name: str, qtype: int) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def test_dns_answer_encodes_aaaa_records():
    pkt = _query("web", 28)
    _, flags, name, qtype, _, end = dns.parse_question(pkt)
    reply = dns.answer(pkt, end, flags, ["fd68::2"])
    assert struct.unpack("!H", reply[6:8])[0] == 1  # one answer
    rtype, _, _, rdlen = struct.unpack("!HHIH", reply[end + 2:end + 12])
    assert (rtype, rdlen) == (28, 16)
    assert ipaddress.ip_address(reply[end + 12:end + 28]) == ipaddress.ip_address("fd68::2")


def test_proxy_binds_v6_only_next_to_v4_and_words_errors_as_docker():
    v4 = bind("127.0.0.1", 0, "tcp", "ep")
    port = v4.getsockname()[1]
    try:
        v6 = bind("::1", port, "tcp", "ep")  # the same port on ::1: an IPv6-only socket
        try:
            assert v6.family == socket.AF_INET6
            with pytest.raises(Internal) as exc:
                bind("::1", port, "tcp", "ep")
            assert f"listen tcp6 [::1]:{port}: bind: address already in use" in str(exc.value)
        finally:
            v6.close()
    finally:
        v4.close()


def test_resolv_conf_keeps_ipv6_servers_only_for_containers_with_ipv6():
    host = "nameserver fd68:6b6f::53\nnameserver 127.0.0.53\n"
    assert hosts.resolv_conf(host, ipv6=True) == "nameserver fd68:6b6f::53\n"
    assert hosts.resolv_conf(host).endswith("nameserver 8.8.8.8\nnameserver 8.8.4.4")
    assert hosts.resolv_conf("nameserver ::1\n", ipv6=True).endswith("nameserver 2001:4860:4860::8844")


def test_iptables_fallback_rules_say_what_the_nft_table_says():
    chains = rules.build_xt("hako0", "10.1.0.0/24", False, [("10.1.0.2", "10.1.0.3", "tcp", 6379)],
                            [("127.0.0.1", 8080, "tcp", "10.1.0.2", 80)], [("br-x", "10.2.0.0/24", True)])
    nat, fwd = chains["nat"], chains["filter"]["hako_hako0-FWD"]
    assert nat["hako_hako0-POST"] == ["-s 10.1.0.0/24 ! -o hako0 -j MASQUERADE"]  # internal: none
    assert nat["hako_hako0-PORTS"] == ["! -i hako0 -d 127.0.0.1 -p tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80"]
    assert fwd[:3] == ["-i br-x ! -o br-x -j DROP", "! -i br-x -o br-x -j DROP", "-i hako0 -o br-x -j DROP"]
    assert "-i hako0 -o hako0 -s 10.1.0.2 -d 10.1.0.3 -p tcp --dport 6379 -j ACCEPT" in fwd
    assert fwd.index("-i hako0 -o hako0 -j DROP") > fwd.index(
        "-i hako0 -o hako0 -s 10.1.0.3 -d 10.1.0.2 -p tcp --sport 6379 -j ACCEPT")
    v6 = rules.build_xt("hako0", "fd68::/64", True, [], [("::", 80, "tcp", "fd68::2", 80)], [], "ip6")
    assert v6["nat"]["hako_hako0-PORTS"] == ["! -i hako0 -p tcp --dport 80 -j DNAT --to-destination [fd68::2]:80"]
    jumps = rules.xt_jumps("hako0")
    assert ("nat", "OUTPUT", "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j hako_hako0-PORTS") in jumps
    assert ("nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j hako_hako0-PORTS") in \
        rules.xt_jumps("hako0", loopback_dnat=True)
    assert all(len(c) <= 28 for cs in rules.chain_names("br-0123456789ab").values() for c in cs)
