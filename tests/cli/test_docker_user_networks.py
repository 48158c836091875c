"""User-defined bridge networks through the real docker CLI: create/ls/inspect/rm/prune,
connect/disconnect, --ip, aliases, the embedded DNS at 127.0.0.11, overlapping subnets,
--internal, and nothing left behind. Traffic stays on the networks the test made; the
resolver is only asked names it answers itself.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration


def net_inspect(d, cli, ref) -> dict:
    return json.loads(out(docker(d, cli, "network", "inspect", ref, check=True)))[0]


def links_of(bridge: str) -> list[str]:
    res = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    return res.stdout.splitlines()


def test_create_inspect_ls_rm(hakod, docker_cli):
    nid = out(docker(hakod, docker_cli, "network", "create", "--subnet", "10.216.7.0/24", "--ip-range",
                     "10.216.7.128/25", "--gateway", "10.216.7.1", "--label", "team=net", "unet1",
                     check=True)).strip()
    try:
        n = net_inspect(hakod, docker_cli, "unet1")
        assert n["Id"] == nid and n["Driver"] == "bridge" and n["Scope"] == "local"
        assert n["IPAM"]["Config"] == [{"Subnet": "10.216.7.0/24", "IPRange": "10.216.7.128/25",
                                        "Gateway": "10.216.7.1"}]
        assert n["Labels"] == {"team": "net"} and n["Containers"] == {}
        assert subprocess.run(["ip", "-o", "-4", "addr", "show", "br-" + nid[:12]], capture_output=True,
                              text=True).stdout.split()[3] == "10.216.7.1/24"
        names = out(docker(hakod, docker_cli, "network", "ls", "--format", "{{.Name}}", check=True)).split()
        assert {"bridge", "host", "none", "unet1"} <= set(names)
        text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "unet1", "busybox", "ip", "-o", "-4",
                          "addr", "show", "eth0", check=True))
        assert "inet 10.216.7.129/24" in text  # first address of the range
        res = docker(hakod, docker_cli, "network", "create", "--subnet", "10.216.7.0/25", "unet1b")
        assert res.returncode == 1 and b"Pool overlaps with other one on this address space" in res.stderr
        res = docker(hakod, docker_cli, "network", "create", "unet1")
        assert res.returncode == 1 and b"network with name unet1 already exists" in res.stderr
    finally:
        docker(hakod, docker_cli, "network", "rm", "unet1")
    assert subprocess.run(["ip", "link", "show", "br-" + nid[:12]], capture_output=True).returncode != 0
    res = docker(hakod, docker_cli, "network", "rm", "unet1")
    assert res.returncode == 1 and b"network unet1 not found" in res.stderr
    res = docker(hakod, docker_cli, "run", "--rm", "--network", "unet1", "busybox", "true")
    assert res.returncode == 125 and b"network unet1 not found" in res.stderr


def test_names_and_aliases_resolve_on_the_network(hakod, docker_cli):
    docker(hakod, docker_cli, "network", "create", "unet2", check=True)
    try:
        docker(hakod, docker_cli, "run", "-d", "--name", "dbsrv", "--network", "unet2", "--network-alias", "db",
               "busybox", "sleep", "60", check=True)
        ip = net_inspect(hakod, docker_cli, "unet2")["Containers"]
        (cid, ep), = ip.items()
        addr = ep["IPv4Address"].split("/")[0]
        text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "unet2", "busybox", "sh", "-c",
                          "cat /etc/resolv.conf; nslookup dbsrv 127.0.0.11; nslookup db 127.0.0.11; "
                          f"nslookup {cid[:12]} 127.0.0.11; ping -c 1 -W 2 db", check=True))
        assert "nameserver 127.0.0.11\n" in text and "options ndots:0" in text
        assert text.count(f"Address: {addr}") == 3 and "1 packets received" in text
        # the default bridge has no embedded DNS
        text = out(docker(hakod, docker_cli, "run", "--rm", "busybox", "cat", "/etc/resolv.conf", check=True))
        assert "127.0.0.11" not in text
    finally:
        docker(hakod, docker_cli, "rm", "-f", "dbsrv")
        docker(hakod, docker_cli, "network", "rm", "unet2")


def test_connect_disconnect_with_ip_and_prune(hakod, docker_cli):
    docker(hakod, docker_cli, "network", "create", "--subnet", "10.216.9.0/24", "unet3", check=True)
    docker(hakod, docker_cli, "network", "create", "--internal", "unet4", check=True)
    cid = out(docker(hakod, docker_cli, "run", "-d", "busybox", "sleep", "60", check=True)).strip()
    try:
        docker(hakod, docker_cli, "network", "connect", "--ip", "10.216.9.50", "--alias", "extra", "unet3", cid,
               check=True)
        text = out(docker(hakod, docker_cli, "exec", cid, "ip", "-o", "-4", "addr", check=True))
        assert "eth1    inet 10.216.9.50/24" in text
        nets = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]["NetworkSettings"]["Networks"]
        assert set(nets) == {"bridge", "unet3"} and nets["unet3"]["IPAddress"] == "10.216.9.50"
        assert nets["unet3"]["Aliases"] == ["extra", cid[:12]]
        res = docker(hakod, docker_cli, "network", "connect", "unet3", cid)
        assert res.returncode == 1 and b"already exists in network unet3" in res.stderr
        res = docker(hakod, docker_cli, "network", "rm", "unet3")
        assert res.returncode == 1 and b"has active endpoints" in res.stderr
        docker(hakod, docker_cli, "network", "disconnect", "unet3", cid, check=True)
        assert "eth1" not in out(docker(hakod, docker_cli, "exec", cid, "ls", "/sys/class/net", check=True))
        res = docker(hakod, docker_cli, "network", "disconnect", "unet3", cid)
        assert res.returncode == 1 and b"is not connected to network unet3" in res.stderr
        # internal: no default route out
        text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "unet4", "busybox", "ip", "route",
                          check=True))
        assert "default" not in text
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    pruned = out(docker(hakod, docker_cli, "network", "prune", "-f", check=True))
    assert "unet3" in pruned and "unet4" in pruned
    names = out(docker(hakod, docker_cli, "network", "ls", "--format", "{{.Name}}", check=True)).split()
    assert "unet3" not in names and sorted(names) == ["bridge", "host", "none"]


def test_hako_network_and_port_match_docker(hakod, docker_cli):
    import os
    import sys

    hako = os.path.join(os.path.dirname(sys.executable), "hako")

    def both(*args: str) -> tuple[str, str]:
        mine = subprocess.run([hako, *args], capture_output=True, env=hakod.env, timeout=60)
        theirs = docker(hakod, docker_cli, *args)
        assert mine.returncode == theirs.returncode, (mine.stderr, theirs.stderr)
        return mine.stdout.decode(), out(theirs)

    mine = subprocess.run([hako, "network", "create", "--subnet", "10.216.11.0/24", "--label", "k=v", "unet5"],
                          capture_output=True, env=hakod.env, timeout=60)
    assert mine.returncode == 0, mine.stderr
    cid = out(docker(hakod, docker_cli, "run", "-d", "--network", "unet5", "-p", "127.0.0.1::80",
                     "-p", "127.0.0.1::53/udp", "busybox", "sleep", "60", check=True)).strip()
    try:
        for args in (("network", "ls"), ("network", "ls", "--no-trunc"), ("network", "ls", "-q"),
                     ("network", "ls", "--filter", "label=k=v", "--format", "{{.Name}} {{.Driver}}"),
                     ("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Internal}}", "unet5"),
                     ("port", cid), ("port", cid, "80")):
            a, b = both(*args)
            assert a == b, (args, a, b)
        assert json.loads(both("network", "inspect", "unet5")[0])[0]["Containers"][cid]["Name"]
        res = subprocess.run([hako, "network", "connect", "unet5", cid], capture_output=True, env=hakod.env)
        assert res.returncode == 1 and b"already exists in network unet5" in res.stderr
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
        subprocess.run([hako, "network", "rm", "unet5"], capture_output=True, env=hakod.env)
    assert "unet5" not in out(docker(hakod, docker_cli, "network", "ls"))
