"""Container networking through the real docker CLI: the default bridge, none, host,
container:<name>, DNS options, inspect, teardown, concurrency, restarts and a daemon killed
with SIGKILL.

Traffic only goes to the test daemon's own bridge and containers (never outside); the
daemons run with their own bridge and subnet (tests/daemon_harness.py).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.daemon_harness import docker, import_busybox, out, poll

pytestmark = pytest.mark.integration


def inspect(d, cli, ref) -> dict:
    return json.loads(out(docker(d, cli, "inspect", ref, check=True)))[0]


def run(d, cli, *args) -> str:
    return out(docker(d, cli, "run", "--rm", *args, check=True))


def bridge_ports(bridge: str) -> list[str]:
    res = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    return [line.split(":")[1].strip().split("@")[0] for line in res.stdout.splitlines()]


def netns_files(d) -> list[str]:
    path = os.path.join(d.exec_root, "netns")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def test_default_bridge_gives_eth0_route_hosts_and_resolv(hakod, docker_cli):
    text = run(hakod, docker_cli, "busybox", "sh", "-c",
               "ip -o -4 addr show eth0; ip route; hostname; cat /etc/hosts /etc/resolv.conf")
    net = ipaddress.ip_network(hakod.subnet)
    addr = text.split("inet ")[1].split()[0]
    assert ipaddress.ip_interface(addr).ip in net and addr.endswith("/24")
    assert f"default via {hakod.gateway} dev eth0" in text
    ip = addr.split("/")[0]
    lines = text.splitlines()
    own = [ln for ln in lines if ln.startswith(ip + "\t")]
    assert len(own) == 1 and own[0].split("\t")[1] in lines  # "<ip>\t<hostname>"
    assert "127.0.0.1\tlocalhost" in text
    assert not any(ln.startswith("nameserver 127.") for ln in lines)


def test_none_has_only_lo(hakod, docker_cli):
    text = run(hakod, docker_cli, "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net; ip route")
    assert text.split() == ["lo"]


def test_host_network_shares_the_hosts_stack(hakod, docker_cli):
    # the same network namespace as the host's (a listing of interfaces alone would race
    # with veths that other daemons on this host make and remove meanwhile)
    text = run(hakod, docker_cli, "--network", "host", "busybox", "sh", "-c",
               "readlink /proc/self/ns/net; ls /sys/class/net")
    ns, *names = text.split()
    assert ns == os.readlink("/proc/self/ns/net")
    assert {"lo", hakod.bridge} <= set(names)


def test_dns_options_add_host_and_hostname(hakod, docker_cli):
    text = run(hakod, docker_cli, "--dns", "192.0.2.53", "--dns-search", "example.com",
               "--dns-option", "ndots:2", "--add-host", "db.local:192.0.2.10", "-h", "web",
               "busybox", "sh", "-c", "cat /etc/resolv.conf /etc/hosts; hostname")
    assert "search example.com\nnameserver 192.0.2.53\noptions ndots:2\n" in text
    assert "192.0.2.10\tdb.local\n" in text
    lines = text.splitlines()
    assert lines[-1] == "web" and [ln for ln in lines if ln.endswith("\tweb")]


def test_mac_address_through_the_api(hakod, docker_cli):
    # today's docker CLI sends --mac-address per network only with API >= 1.44
    status, body = hakod.api("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["cat", "/sys/class/net/eth0/address"], "MacAddress": "02:11:22:33:44:55"})
    assert status == 201, body
    cid = body["Id"]
    try:
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        assert hakod.api("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 0
        assert out(docker(hakod, docker_cli, "logs", cid)).strip() == "02:11:22:33:44:55"
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})
    status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "MacAddress": "zz"})
    assert status == 400 and body["message"] == "zz is not a valid mac address"


def test_inspect_network_settings_and_teardown(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "busybox", "sleep", "60", check=True)).strip()
    try:
        ns = inspect(hakod, docker_cli, cid)["NetworkSettings"]
        ep = ns["Networks"]["bridge"]
        assert ns["IPAddress"] == ep["IPAddress"] and ipaddress.ip_address(ep["IPAddress"]) in \
            ipaddress.ip_network(hakod.subnet)
        assert ep["Gateway"] == hakod.gateway and ep["IPPrefixLen"] == 24
        assert ep["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ep["IPAddress"].split("."))
        assert len(ep["NetworkID"]) == 64 and len(ep["EndpointID"]) == 64
        assert ns["SandboxKey"].startswith(hakod.exec_root) and os.path.exists(ns["SandboxKey"])
        poll(lambda: len(bridge_ports(hakod.bridge)) == 1)  # earlier tests' veths go asynchronously
        # the host reaches the container on the bridge
        ping = subprocess.run(["busybox", "ping", "-c", "1", "-W", "2", ep["IPAddress"]], capture_output=True)
        assert ping.returncode == 0, ping.stdout
        other = run(hakod, docker_cli, "busybox", "ping", "-c", "1", "-W", "2", ep["IPAddress"])
        assert "1 packets received" in other
        docker(hakod, docker_cli, "stop", "-t", "0", cid, check=True)
        stopped = inspect(hakod, docker_cli, cid)["NetworkSettings"]
        assert stopped["IPAddress"] == "" and stopped["Networks"]["bridge"]["NetworkID"] == ep["NetworkID"]
        assert cid[:12] not in netns_files(hakod)
        poll(lambda: bridge_ports(hakod.bridge) == [])  # the kernel destroys the netns and its veth
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    with open(os.path.join(hakod.data_root, "network", "ipam.json")) as f:
        assert cid not in f.read()


def test_container_mode_joins_the_other_sandbox(hakod, docker_cli):
    docker(hakod, docker_cli, "run", "-d", "--name", "netowner", "busybox", "sleep", "60", check=True)
    try:
        ip = inspect(hakod, docker_cli, "netowner")["NetworkSettings"]["IPAddress"]
        text = run(hakod, docker_cli, "--network", "container:netowner", "busybox", "ip", "-o", "-4", "addr")
        assert f"inet {ip}/24" in text
        res = docker(hakod, docker_cli, "run", "--rm", "--network", "container:netowner", "-h", "x",
                     "busybox", "true")
        assert res.returncode == 125 and b"conflicting options: hostname and the network mode" in res.stderr
    finally:
        docker(hakod, docker_cli, "rm", "-f", "netowner")
    res = docker(hakod, docker_cli, "run", "--rm", "--network", "container:netowner", "busybox", "true")
    assert res.returncode == 125 and b"No such container: netowner" in res.stderr


def test_unknown_network_is_docker_error_and_leaves_nothing(hakod, docker_cli):
    before = netns_files(hakod)
    res = docker(hakod, docker_cli, "run", "--rm", "--network", "nosuchnet", "busybox", "true")
    assert res.returncode == 125 and b"network nosuchnet not found" in res.stderr
    assert netns_files(hakod) == before
    poll(lambda: bridge_ports(hakod.bridge) == [])


def test_missing_network_or_container_is_refused_at_start_not_at_create(hakod, docker_cli):
    """As Docker (checked against dockerd 20.10; moby's create ignores FindNetwork's error
    too): create accepts a network, or a ``container:`` peer, that does not exist yet (compose
    creates networks around its creates), start answers 404 with Docker's text and leaves the
    container created, and a start once they exist works."""
    suffix = os.urandom(4).hex()
    net, peer, a, b = f"late-{suffix}", f"peer-{suffix}", f"onnet-{suffix}", f"inpeer-{suffix}"
    try:
        docker(hakod, docker_cli, "create", "--name", a, "--network", net, "busybox", "true", check=True)
        docker(hakod, docker_cli, "create", "--name", b, "--network", f"container:{peer}", "busybox",
               "true", check=True)
        for name, message in ((a, f"network {net} not found"), (b, f"No such container: {peer}")):
            res = docker(hakod, docker_cli, "start", name)
            assert res.returncode == 1
            assert f"Error response from daemon: {message}" in res.stderr.decode()
            assert inspect(hakod, docker_cli, name)["State"]["Status"] == "created"
        docker(hakod, docker_cli, "network", "create", net, check=True)
        docker(hakod, docker_cli, "run", "-d", "--name", peer, "busybox", "sleep", "60", check=True)
        for name in (a, b):
            docker(hakod, docker_cli, "start", "-a", name, check=True)
            assert inspect(hakod, docker_cli, name)["State"]["ExitCode"] == 0
    finally:
        docker(hakod, docker_cli, "rm", "-f", a, b, peer)
        docker(hakod, docker_cli, "network", "rm", net)


def test_concurrent_runs_get_distinct_addresses(hakod, docker_cli):
    def one(i: int) -> str:
        return out(docker(hakod, docker_cli, "run", "-d", "--label", "netconc=1", "busybox", "sleep", "60",
                          check=True)).strip()

    with ThreadPoolExecutor(10) as pool:
        ids = list(pool.map(one, range(10)))
    try:
        ips = [inspect(hakod, docker_cli, cid)["NetworkSettings"]["IPAddress"] for cid in ids]
        assert len(set(ips)) == 10 and all(ips)
    finally:
        docker(hakod, docker_cli, "rm", "-f", *ids)
    poll(lambda: bridge_ports(hakod.bridge) == [])


def test_restart_policy_keeps_the_sandbox(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c",
                     "ip -o -4 addr show eth0; cat /sys/class/net/eth0/ifindex; exit 1", check=True)).strip()
    try:
        poll(lambda: inspect(hakod, docker_cli, cid)["RestartCount"] == 2
             and inspect(hakod, docker_cli, cid)["State"]["Status"] == "exited", timeout=30)
        runs = out(docker(hakod, docker_cli, "logs", cid)).splitlines()
        assert len(runs) == 6 and runs[0:2] == runs[2:4] == runs[4:6]  # same address, same eth0
        assert cid[:12] not in netns_files(hakod)
        poll(lambda: bridge_ports(hakod.bridge) == [])
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_sigkill_daemon_readopts_running_and_cleans_stale(fresh_hakod, docker_cli):
    d = fresh_hakod()
    d.start()
    import_busybox(d)
    keep = out(docker(d, docker_cli, "run", "-d", "busybox", "sleep", "120", check=True)).strip()
    gone = out(docker(d, docker_cli, "run", "-d", "busybox", "sleep", "120", check=True)).strip()
    ip = inspect(d, docker_cli, keep)["NetworkSettings"]["IPAddress"]
    d.kill9()
    pid = json.loads(open(os.path.join(d.data_root, "containers", gone, "config.v2.json")).read())["state"]["pid"]
    os.kill(pid, 9)  # the container dies while the daemon is away
    d.start()
    assert inspect(d, docker_cli, keep)["NetworkSettings"]["IPAddress"] == ip
    assert inspect(d, docker_cli, gone)["NetworkSettings"]["IPAddress"] == ""
    assert netns_files(d) == [keep[:12]]
    poll(lambda: len(bridge_ports(d.bridge)) == 1)
    ping = subprocess.run(["busybox", "ping", "-c", "1", "-W", "2", ip], capture_output=True)
    assert ping.returncode == 0
    # the freed address is handed out again
    again = out(docker(d, docker_cli, "run", "-d", "busybox", "sleep", "60", check=True)).strip()
    assert inspect(d, docker_cli, again)["NetworkSettings"]["IPAddress"] != ip
    docker(d, docker_cli, "rm", "-f", keep, gone, again, check=True)
    assert netns_files(d) == []
    poll(lambda: bridge_ports(d.bridge) == [])


def test_daemon_refuses_missing_bridge_and_cleans_after_itself(fresh_hakod):
    d = fresh_hakod(extra_args=("-b", "hkt-missing0"))
    with pytest.raises(RuntimeError, match="bridge device with non default name hkt-missing0 must be created manually"):
        d.start(timeout=10)
    d2 = fresh_hakod()
    d2.start()
    d2.stop()
    table = subprocess.run(["nft", "list", "table", "ip", "hako_" + d2.bridge], capture_output=True)
    assert table.returncode != 0  # no container left: the table went with the daemon
