"""IPv6 through the real docker CLI: published ports on [::] and [::1] (the userland proxy),
the default bridge with dockerd's --ipv6 --fixed-cidr-v6 (addresses made of the MAC), the ip6
nft table and its DNAT path, and --userland-proxy=false reaching containers on 127.0.0.1 by
DNAT. Every address is loopback or one of the ULA subnets the tests give their own bridges.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import urllib.request

import pytest

from tests.daemon_harness import docker, import_busybox, out, poll

pytestmark = pytest.mark.integration

HTTPD = "mkdir -p /www && echo hello v6 > /www/index.html && httpd -f -p 80 -h /www"


def inspect(d, cli, ref) -> dict:
    return json.loads(out(docker(d, cli, "inspect", ref, check=True)))[0]


def free_port(host: str = "::1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def fetch(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return ""


def test_published_on_ipv6_loopback_and_on_all_addresses(hakod, docker_cli):
    port = free_port()
    cid = out(docker(hakod, docker_cli, "run", "-d", "-p", f"[::1]:{port}:80", "-p", "80", "busybox", "sh", "-c",
                     HTTPD, check=True)).strip()
    try:
        ports = inspect(hakod, docker_cli, cid)["NetworkSettings"]["Ports"]["80/tcp"]
        assert ports[0] == {"HostIp": "::1", "HostPort": str(port)}
        assert [p["HostIp"] for p in ports[1:]] == ["0.0.0.0", "::"] and ports[1]["HostPort"] == ports[2]["HostPort"]
        any_port = int(ports[1]["HostPort"])
        assert poll(lambda: fetch(f"http://[::1]:{port}/"), timeout=15, interval=0.1) == "hello v6\n"
        assert poll(lambda: fetch(f"http://[::1]:{any_port}/"), timeout=15, interval=0.1) == "hello v6\n"
        assert fetch(f"http://127.0.0.1:{any_port}/") == "hello v6\n"
        text = out(docker(hakod, docker_cli, "port", cid, "80", check=True))
        assert text == f"0.0.0.0:{any_port}\n[::1]:{port}\n[::]:{any_port}\n"  # sorted by the CLI
        res = docker(hakod, docker_cli, "run", "--rm", "-p", f"[::1]:{port}:80", "busybox", "true")
        assert res.returncode == 125 and f"Bind for [::1]:{port} failed: port is already allocated" in res.stderr.decode()
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", port), timeout=5)


def test_default_bridge_ipv6_and_dnat_without_proxy(fresh_hakod, docker_cli):
    """dockerd's --ipv6 --fixed-cidr-v6 on the default bridge, with --userland-proxy=false: a
    published port answers only through the nft DNAT rules, on 127.0.0.1 (route_localnet) and
    on the bridge's own IPv6 address (the ip6 table)."""
    d = fresh_hakod(extra_args=("--ipv6", "--fixed-cidr-v6", "fd68:6b6f:20::/64", "--userland-proxy=false"))
    d.start()
    import_busybox(d)
    port = free_port("127.0.0.1")
    cid = out(docker(d, docker_cli, "run", "-d", "-p", f"{port}:80", "busybox", "sh", "-c", HTTPD,
                     check=True)).strip()
    try:
        info = inspect(d, docker_cli, cid)["NetworkSettings"]
        mac = info["MacAddress"]
        want = str(ipaddress.IPv6Address(bytes.fromhex("fd686b6f002000000000" + mac.replace(":", ""))))
        assert info["GlobalIPv6Address"] == want and info["GlobalIPv6PrefixLen"] == 64
        assert info["IPv6Gateway"] == "fd68:6b6f:20::1"
        net = json.loads(out(docker(d, docker_cli, "network", "inspect", "bridge", check=True)))[0]
        assert net["EnableIPv6"] is True and net["IPAM"]["Config"][1] == {"Subnet": "fd68:6b6f:20::/64",
                                                                          "Gateway": "fd68:6b6f:20::1"}
        assert poll(lambda: fetch(f"http://127.0.0.1:{port}/"), timeout=15, interval=0.1) == "hello v6\n"
        assert poll(lambda: fetch(f"http://[fd68:6b6f:20::1]:{port}/"), timeout=15, interval=0.1) == "hello v6\n"
        table = subprocess.run(["nft", "list", "table", "ip6", "hako_" + d.bridge], capture_output=True,
                               text=True).stdout
        assert f"dnat to [{want}]:80" in table and "fd68:6b6f:20::/64" in table
        hosts = out(docker(d, docker_cli, "exec", cid, "cat", "/etc/hosts", check=True))
        assert hosts.endswith(f"{info['IPAddress']}\t{cid[:12]}\n{want}\t{cid[:12]}\n")
    finally:
        docker(d, docker_cli, "rm", "-f", cid)
    d.stop()
    for family in ("ip", "ip6"):
        assert subprocess.run(["nft", "list", "table", family, "hako_" + d.bridge],
                              capture_output=True).returncode != 0
