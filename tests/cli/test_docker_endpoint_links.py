"""Links on user-defined networks (what docker-compose 1.29 puts on its project network),
through the real docker CLI: a link is a name only the linking container resolves, through
the embedded DNS (no environment, no hosts record, as on Docker); ``network connect --link``;
the refusals of endpoint settings hako would ignore; ``--dns`` on a user-defined network
keeps the embedded DNS (the servers become its upstreams). Names are only asked of the
embedded DNS, which answers them itself.
"""

from __future__ import annotations

import json

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration


def inspect(d, cli, ref) -> dict:
    return json.loads(out(docker(d, cli, "inspect", ref, check=True)))[0]


@pytest.fixture
def usernet(hakod, docker_cli):
    docker(hakod, docker_cli, "network", "create", "elnet", check=True)
    docker(hakod, docker_cli, "run", "-d", "--name", "elsrv", "--network", "elnet", "busybox", "sleep", "60",
           check=True)
    made = ["elsrv"]
    yield made
    docker(hakod, docker_cli, "rm", "-f", *made)
    docker(hakod, docker_cli, "network", "rm", "elnet")


def test_link_alias_resolves_only_for_the_linking_container(hakod, docker_cli, usernet):
    ip = inspect(hakod, docker_cli, "elsrv")["NetworkSettings"]["Networks"]["elnet"]["IPAddress"]
    text = out(docker(hakod, docker_cli, "run", "--name", "ellinker", "--network", "elnet", "--link",
                      "elsrv:dbalias", "busybox", "sh", "-c",
                      "nslookup dbalias 127.0.0.11; env; cat /etc/hosts", check=True))
    usernet.append("ellinker")
    assert f"Name:\tdbalias\nAddress: {ip}" in text
    assert "DBALIAS_" not in text and "dbalias" not in text.split("Address: " + ip, 1)[1]
    info = inspect(hakod, docker_cli, "ellinker")
    assert info["HostConfig"]["Links"] is None  # moby's inspect lists registered legacy links only
    assert info["NetworkSettings"]["Networks"]["elnet"]["Links"] == ["elsrv:dbalias"]
    other = docker(hakod, docker_cli, "run", "--rm", "--network", "elnet", "busybox", "nslookup", "dbalias",
                   "127.0.0.11")
    assert other.returncode != 0 and b"NXDOMAIN" in other.stdout


def test_network_connect_with_link(hakod, docker_cli, usernet):
    ip = inspect(hakod, docker_cli, "elsrv")["NetworkSettings"]["Networks"]["elnet"]["IPAddress"]
    # what docker-compose does before each start: disconnect, connect with the links
    docker(hakod, docker_cli, "create", "--name", "elconn", "--network", "elnet", "busybox", "sleep", "60",
           check=True)
    usernet.append("elconn")
    docker(hakod, docker_cli, "network", "disconnect", "elnet", "elconn", check=True)
    docker(hakod, docker_cli, "network", "connect", "--link", "elsrv:other", "elnet", "elconn", check=True)
    docker(hakod, docker_cli, "start", "elconn", check=True)
    text = out(docker(hakod, docker_cli, "exec", "elconn", "nslookup", "other", "127.0.0.11", check=True))
    assert f"Name:\tother\nAddress: {ip}" in text
    assert inspect(hakod, docker_cli, "elconn")["NetworkSettings"]["Networks"]["elnet"]["Links"] == ["elsrv:other"]


def test_connect_refuses_endpoint_settings_it_would_ignore(hakod, docker_cli, usernet):
    cid = out(docker(hakod, docker_cli, "create", "--network", "elnet", "busybox", "true", check=True)).strip()
    usernet.append(cid)
    status, body = hakod.api("POST", "/networks/bridge/connect",
                             {"Container": cid, "EndpointConfig": {"Links": ["elsrv:x"]}})
    assert status == 400 and body["message"] == "links are only supported for user-defined networks", body
    docker(hakod, docker_cli, "network", "create", "elnet2", check=True)
    try:
        status, body = hakod.api("POST", "/networks/elnet2/connect",
                                 {"Container": cid, "EndpointConfig": {
                                     "DriverOpts": {"com.docker.network.endpoint.ifname": "x"}}})
        assert status == 400 and body["message"].startswith(
            "EndpointConfig.DriverOpts.com.docker.network.endpoint.ifname is not supported yet"), body
        assert "elnet2" not in inspect(hakod, docker_cli, cid)["NetworkSettings"]["Networks"]
    finally:
        docker(hakod, docker_cli, "network", "rm", "elnet2")


def test_dns_servers_on_a_user_network_keep_the_embedded_dns(hakod, docker_cli, usernet):
    ip = inspect(hakod, docker_cli, "elsrv")["NetworkSettings"]["Networks"]["elnet"]["IPAddress"]
    text = out(docker(hakod, docker_cli, "run", "--rm", "--network", "elnet", "--dns", "192.0.2.53", "busybox",
                      "sh", "-c", "cat /etc/resolv.conf; nslookup elsrv 127.0.0.11", check=True))
    assert "nameserver 127.0.0.11\n" in text and "192.0.2.53" not in text
    assert f"Name:\telsrv\nAddress: {ip}" in text
