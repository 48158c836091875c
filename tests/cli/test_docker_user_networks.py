"""User-defined bridge networks through the real docker CLI: create/ls/inspect/rm/prune,
connect/disconnect, --ip, aliases, the embedded DNS at 127.0.0.11, overlapping subnets,
--internal, and nothing left behind. Traffic stays on the networks the test made; the
resolver is only asked names it answers itself.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.daemon_harness import docker, out, poll

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
                     "-p", "127.0.0.1::53/udp", "-p", "[::1]::81", "-p", "82", "busybox", "sleep", "60",
                     check=True)).strip()
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


def _answers(text: str) -> list[str]:
    """The addresses of busybox nslookup's answer (after the server's own lines)."""
    lines = text.split("Name:", 1)[1].splitlines() if "Name:" in text else []
    return [ln.split()[1] for ln in lines if ln.startswith("Address")]


def test_links_and_aliases_on_user_networks_resolve_by_dns(hakod, docker_cli):
    """Docker's links on a user network: the alias resolves for the linking container only
    (via 127.0.0.11), to the target's address on that network; no env, no hosts line; the
    target may be made after the link."""
    docker(hakod, docker_cli, "network", "create", "--subnet", "10.216.13.0/24", "lnk1", check=True)
    docker(hakod, docker_cli, "network", "create", "--subnet", "10.216.14.0/24", "lnk2", check=True)
    try:
        docker(hakod, docker_cli, "run", "-d", "--name", "lweb", "--network", "lnk1", "--link", "lup:bar",
               "--network-alias", "webalias", "busybox", "sleep", "60", check=True)
        docker(hakod, docker_cli, "run", "-d", "--name", "lup", "--network", "lnk1", "--expose", "80",
               "busybox", "sleep", "60", check=True)
        web = inspect(hakod, docker_cli, "lweb")
        assert web["NetworkSettings"]["Networks"]["lnk1"]["Links"] == ["lup:bar"]
        assert web["HostConfig"]["Links"] is None
        up_ip = inspect(hakod, docker_cli, "lup")["NetworkSettings"]["Networks"]["lnk1"]["IPAddress"]
        web_ip = web["NetworkSettings"]["Networks"]["lnk1"]["IPAddress"]
        text = out(docker(hakod, docker_cli, "exec", "lweb", "nslookup", "bar", check=True))
        assert _answers(text) == [up_ip]
        text = out(docker(hakod, docker_cli, "exec", "lweb", "sh", "-c", "env; cat /etc/hosts", check=True))
        assert "BAR_" not in text and "bar" not in text
        # another container on the network has no such alias, but sees the network alias
        res = docker(hakod, docker_cli, "run", "--rm", "--network", "lnk1", "busybox", "nslookup", "bar")
        assert res.returncode != 0 and up_ip not in out(res)
        text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "lnk1", "busybox", "nslookup", "webalias",
                          check=True))
        assert _answers(text) == [web_ip]
        # network connect --link --alias --ip: scoped to the second network
        docker(hakod, docker_cli, "network", "connect", "lnk2", "lup", check=True)
        docker(hakod, docker_cli, "network", "connect", "--link", "lup:up2", "--alias", "al2", "--ip", "10.216.14.40",
               "lnk2", "lweb", check=True)
        nets = inspect(hakod, docker_cli, "lweb")["NetworkSettings"]["Networks"]
        assert nets["lnk2"]["Links"] == ["lup:up2"] and nets["lnk2"]["IPAddress"] == "10.216.14.40"
        up_ip2 = inspect(hakod, docker_cli, "lup")["NetworkSettings"]["Networks"]["lnk2"]["IPAddress"]
        text = out(docker(hakod, docker_cli, "exec", "lweb", "nslookup", "up2", check=True))
        assert _answers(text) == [up_ip2]
        text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "lnk2", "busybox", "nslookup", "al2",
                          check=True))
        assert _answers(text) == ["10.216.14.40"]
        status, body = hakod.api("POST", "/networks/bridge/connect",
                                 {"Container": "lup", "EndpointConfig": {"Links": ["lweb:w"]}})
        assert status == 400 and body["message"] == "links are only supported for user-defined networks"
    finally:
        docker(hakod, docker_cli, "rm", "-f", "lweb", "lup")
        docker(hakod, docker_cli, "network", "rm", "lnk1", "lnk2")


def test_endpoint_mac_link_local_and_driver_opts(hakod, docker_cli):
    docker(hakod, docker_cli, "network", "create", "--subnet", "10.216.15.0/24", "epnet", check=True)
    try:
        text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "epnet", "--ip", "10.216.15.9",
                          "--link-local-ip", "169.254.10.10", "busybox", "ip", "-o", "addr", "show", "eth0",
                          check=True))
        assert "inet 10.216.15.9/24" in text and "inet 169.254.10.10/16" in text
        # the container-level MAC (API < 1.44; the CLI sends it per network from 1.44 on)
        status, body = hakod.api("POST", "/containers/create", {
            "Image": "busybox", "Cmd": ["ip", "-o", "link", "show", "eth0"], "MacAddress": "02:42:0a:d8:0f:99",
            "HostConfig": {"NetworkMode": "epnet"}})
        assert status == 201, body
        docker(hakod, docker_cli, "start", body["Id"], check=True)
        poll(lambda: inspect(hakod, docker_cli, body["Id"])["State"]["Status"] == "exited")
        assert "link/ether 02:42:0a:d8:0f:99" in out(docker(hakod, docker_cli, "logs", body["Id"], check=True))
        docker(hakod, docker_cli, "rm", body["Id"], check=True)
        cid = out(docker(hakod, docker_cli, "create", "--network", "name=epnet,driver-opt=com.example.k=v",
                         "busybox", "sleep", "60", check=True)).strip()
        docker(hakod, docker_cli, "network", "connect", "bridge", cid, check=True)
        hakod_status, _ = hakod.api("POST", "/networks/bridge/disconnect", {"Container": cid})
        assert hakod_status == 200
        status, body = hakod.api("POST", "/networks/bridge/connect",
                                 {"Container": cid, "EndpointConfig": {"MacAddress": "zz"}})
        assert status == 400 and body["message"] == "zz is not a valid mac address"
        status, _ = hakod.api("POST", "/networks/bridge/connect",
                              {"Container": cid, "EndpointConfig": {"MacAddress": "02:42:0a:d8:0f:98"}})
        assert status == 200
        nets = inspect(hakod, docker_cli, cid)["NetworkSettings"]["Networks"]
        assert nets["epnet"]["DriverOpts"] == {"com.example.k": "v"}
        assert nets["bridge"]["MacAddress"] == "02:42:0a:d8:0f:98"  # before start: the requested one
        docker(hakod, docker_cli, "start", cid, check=True)
        text = out(docker(hakod, docker_cli, "exec", cid, "ip", "-o", "link", check=True))
        assert "link/ether 02:42:0a:d8:0f:98" in text
        docker(hakod, docker_cli, "stop", "-t", "0", cid, check=True)  # the request outlives the run
        assert inspect(hakod, docker_cli, cid)["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == \
            "02:42:0a:d8:0f:98"
        docker(hakod, docker_cli, "start", cid, check=True)
        status, body = hakod.api("POST", "/networks/epnet/connect",
                                 {"Container": cid, "EndpointConfig": {"DriverOpts": {
                                     "com.docker.network.endpoint.ifname": "x"}}})
        assert status == 400 and "EndpointConfig.DriverOpts.com.docker.network.endpoint.ifname" in body["message"]
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid) if "cid" in locals() else None
        docker(hakod, docker_cli, "network", "rm", "epnet")


def inspect(d, cli, ref) -> dict:
    return json.loads(out(docker(d, cli, "inspect", ref, check=True)))[0]


def test_ipv6_network_addresses_routes_hosts_and_dns(hakod, docker_cli):
    """--ipv6 with a ULA subnet the test picks: addresses, default route, hosts line, AAAA
    from the embedded DNS, inspect's IPv6 fields, and traffic between two containers."""
    res = docker(hakod, docker_cli, "network", "create", "--ipv6", "v6none")
    assert res.returncode == 1 and b"non-overlapping IPv6 address pool" in res.stderr
    nid = out(docker(hakod, docker_cli, "network", "create", "--ipv6", "--subnet", "10.216.17.0/24",
                     "--subnet", "fd68:6b6f:17::/64", "v6net", check=True)).strip()
    try:
        n = net_inspect(hakod, docker_cli, "v6net")
        assert n["EnableIPv6"] is True
        assert n["IPAM"]["Config"] == [{"Subnet": "10.216.17.0/24", "Gateway": "10.216.17.1"},
                                       {"Subnet": "fd68:6b6f:17::/64", "Gateway": "fd68:6b6f:17::1"}]
        text = subprocess.run(["ip", "-o", "-6", "addr", "show", "br-" + nid[:12], "scope", "global"],
                              capture_output=True, text=True).stdout
        assert "fd68:6b6f:17::1/64" in text
        res = docker(hakod, docker_cli, "network", "create", "--ipv6", "--subnet", "fd68:6b6f:17::/80", "v6dup")
        assert res.returncode == 1 and b"Pool overlaps with other one on this address space" in res.stderr
        docker(hakod, docker_cli, "run", "-d", "--name", "v6a", "--network", "v6net", "--ip6", "fd68:6b6f:17::f00d",
               "busybox", "sleep", "60", check=True)
        st = inspect(hakod, docker_cli, "v6a")["NetworkSettings"]["Networks"]["v6net"]
        assert (st["GlobalIPv6Address"], st["GlobalIPv6PrefixLen"], st["IPv6Gateway"]) == \
            ("fd68:6b6f:17::f00d", 64, "fd68:6b6f:17::1")
        assert st["IPAMConfig"] == {"IPv6Address": "fd68:6b6f:17::f00d"}
        (ep,) = net_inspect(hakod, docker_cli, "v6net")["Containers"].values()
        assert ep["IPv6Address"] == "fd68:6b6f:17::f00d/64"
        text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "v6net", "--hostname", "six", "busybox",
                          "sh", "-c", "ip -o -6 addr show eth0 scope global; ip -6 route; cat /etc/hosts; "
                          "nslookup -type=AAAA v6a; ping -c 1 -W 2 fd68:6b6f:17::f00d", check=True))
        assert "inet6 fd68:6b6f:17::2/64" in text and "default via fd68:6b6f:17::1 dev eth0" in text
        assert "10.216.17.3\tsix\nfd68:6b6f:17::2\tsix\n" in text, text  # v6a has .2
        assert "Address: fd68:6b6f:17::f00d" in text and "1 packets received" in text
        # network connect --ip6 of a running container on the default bridge
        docker(hakod, docker_cli, "run", "-d", "--name", "v6b", "busybox", "sleep", "60", check=True)
        docker(hakod, docker_cli, "network", "connect", "--ip6", "fd68:6b6f:17::77", "v6net", "v6b", check=True)
        text = out(docker(hakod, docker_cli, "exec", "v6b", "ip", "-o", "-6", "addr", "show", "eth1", "scope",
                          "global", check=True))
        assert "inet6 fd68:6b6f:17::77/64" in text
        assert inspect(hakod, docker_cli, "v6b")["NetworkSettings"]["Networks"]["v6net"]["GlobalIPv6Address"] == \
            "fd68:6b6f:17::77"
    finally:
        docker(hakod, docker_cli, "rm", "-f", "v6a", "v6b")
        docker(hakod, docker_cli, "network", "rm", "v6net")
    assert subprocess.run(["ip", "link", "show", "br-" + nid[:12]], capture_output=True).returncode != 0


def test_build_on_a_user_network_resolves_its_names(hakod, docker_cli, tmp_path):
    docker(hakod, docker_cli, "network", "create", "--subnet", "10.216.19.0/24", "bnet", check=True)
    docker(hakod, docker_cli, "run", "-d", "--name", "btarget", "--network", "bnet", "--network-alias",
           "target.build", "busybox", "sleep", "60", check=True)
    try:
        (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN ping -c 1 -W 2 target.build\n")
        env = dict(hakod.env, DOCKER_BUILDKIT="0")
        res = subprocess.run([docker_cli, "build", "--network", "bnet", "-t", "bnet-built", str(tmp_path)],
                             capture_output=True, env=env, timeout=120)
        assert res.returncode == 0, res.stderr
        assert "1 packets received" in res.stdout.decode()
        res = subprocess.run([docker_cli, "build", "--no-cache", "--network", "none", str(tmp_path)],
                             capture_output=True, env=env, timeout=120)
        assert res.returncode != 0  # no name service without the network
    finally:
        docker(hakod, docker_cli, "rm", "-f", "btarget")
        docker(hakod, docker_cli, "rmi", "bnet-built")
        docker(hakod, docker_cli, "network", "rm", "bnet")


def test_hako_cli_network_flags(hakod, docker_cli):
    """hako run/network connect send the endpoint settings the docker CLI sends."""
    import os
    import sys

    hako = os.path.join(os.path.dirname(sys.executable), "hako")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([hako, *args], capture_output=True, env=hakod.env, timeout=60)

    assert run("network", "create", "--ipv6", "--subnet", "10.216.22.0/24", "--subnet", "fd68:6b6f:22::/64",
               "hnet").returncode == 0
    try:
        res = run("run", "-d", "--name", "hk1", "--network", "hnet", "--ip", "10.216.22.5", "--ip6",
                  "fd68:6b6f:22::5", "--network-alias", "hka", "--link", "hk2:peer", "--mac-address",
                  "02:42:0a:d8:16:05", "--link-local-ip", "169.254.22.5", "busybox", "sleep", "60")
        assert res.returncode == 0, res.stderr
        st = inspect(hakod, docker_cli, "hk1")["NetworkSettings"]["Networks"]["hnet"]
        assert (st["IPAddress"], st["GlobalIPv6Address"], st["MacAddress"]) == \
            ("10.216.22.5", "fd68:6b6f:22::5", "02:42:0a:d8:16:05")
        assert st["Links"] == ["hk2:peer"] and "hka" in st["Aliases"]
        assert st["IPAMConfig"]["LinkLocalIPs"] == ["169.254.22.5"]
        docker(hakod, docker_cli, "run", "-d", "--name", "hk2", "busybox", "sleep", "60", check=True)
        res = run("network", "connect", "--ip", "10.216.22.6", "--ip6", "fd68:6b6f:22::6", "--alias", "hkb",
                  "--driver-opt", "com.example.x=1", "hnet", "hk2")
        assert res.returncode == 0, res.stderr
        st = inspect(hakod, docker_cli, "hk2")["NetworkSettings"]["Networks"]["hnet"]
        assert (st["IPAddress"], st["GlobalIPv6Address"]) == ("10.216.22.6", "fd68:6b6f:22::6")
        assert st["DriverOpts"] == {"com.example.x": "1"} and "hkb" in st["Aliases"]
        text = out(docker(hakod, docker_cli, "exec", "hk1", "nslookup", "peer", check=True))
        assert _answers(text) == ["10.216.22.6", "fd68:6b6f:22::6"], text  # A and AAAA
        res = run("run", "--rm", "--network-alias", "x", "busybox", "true")
        assert res.returncode == 125 and b"network-scoped aliases are only supported" in res.stderr
    finally:
        docker(hakod, docker_cli, "rm", "-f", "hk1", "hk2")
        run("network", "rm", "hnet")


def test_running_bridge_container_connected_to_a_user_network_gets_its_dns(hakod, docker_cli):
    """As Docker: a container started on the default bridge and connected to a user-defined
    network while running resolves that network's names through 127.0.0.11 from then on (its
    resolv.conf is rewritten in place: the bind mount keeps the file's inode)."""
    docker(hakod, docker_cli, "network", "create", "unet-late", check=True)
    try:
        docker(hakod, docker_cli, "run", "-d", "--name", "late-srv", "--network", "unet-late",
               "busybox", "sleep", "60", check=True)
        docker(hakod, docker_cli, "run", "-d", "--name", "late-cli", "busybox", "sleep", "60", check=True)
        before = out(docker(hakod, docker_cli, "exec", "late-cli", "cat", "/etc/resolv.conf", check=True))
        assert "127.0.0.11" not in before
        docker(hakod, docker_cli, "network", "connect", "unet-late", "late-cli", check=True)
        addr = json.loads(out(docker(hakod, docker_cli, "inspect", "late-srv", check=True)))[0][
            "NetworkSettings"]["Networks"]["unet-late"]["IPAddress"]
        text = out(docker(hakod, docker_cli, "exec", "late-cli", "sh", "-c",
                          "cat /etc/resolv.conf; nslookup late-srv", check=True))
        assert "nameserver 127.0.0.11\n" in text and "options ndots:0" in text
        assert f"Address: {addr}" in text
    finally:
        docker(hakod, docker_cli, "rm", "-f", "late-srv", "late-cli")
        docker(hakod, docker_cli, "network", "rm", "unet-late")
