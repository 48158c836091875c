"""The seed's ambassador pattern across two "hosts": two hakod, each in a network namespace
of its own, joined by a veth pair (10.217.<n>.1 and .2). A client container on host B reaches
a server container on host A through an ambassador on each side, with nothing but links,
a published port and environment variables (the seed's MySQL picture, with busybox nc).

Each namespace has its own forwarding switch and packet filter, so the daemons run with
``--ip-forward=true`` there without touching the machine's; traffic goes only between the
namespaces the test made. Teardown removes both namespaces (their veths, bridges and nft
tables go with them).
"""

from __future__ import annotations

import os
import random
import subprocess

import pytest

from tests.daemon_harness import docker, import_busybox, new_daemon, out, poll

pytestmark = pytest.mark.integration


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture
def two_hosts():
    tag = os.urandom(3).hex()
    names = [f"hkamb-a-{tag}", f"hkamb-b-{tag}"]
    net = random.randint(1, 254)
    addrs = [f"10.217.{net}.1", f"10.217.{net}.2"]
    daemons = []
    try:
        for name in names:
            sh("ip", "netns", "add", name)
        sh("ip", "link", "add", f"hka{tag}", "netns", names[0], "type", "veth", "peer", "name", f"hkb{tag}",
           "netns", names[1])
        for name, dev, addr in ((names[0], f"hka{tag}", addrs[0]), (names[1], f"hkb{tag}", addrs[1])):
            sh("ip", "-n", name, "addr", "add", addr + "/24", "dev", dev)
            sh("ip", "-n", name, "link", "set", dev, "up")
            sh("ip", "-n", name, "link", "set", "lo", "up")
        for name in names:
            d = new_daemon(extra_args=("--ip-forward=true",), netns=f"/run/netns/{name}")
            daemons.append(d)
            d.start()
            import_busybox(d)
        yield daemons, addrs
    finally:
        for d in daemons:
            d.cleanup()
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_ambassadors_link_a_client_to_a_server_on_another_host(two_hosts, docker_cli):
    (server_host, client_host), (server_ip, _) = two_hosts
    cli = docker_cli
    # Server host: the server, and its ambassador publishing 3306 and linking to it
    docker(server_host, cli, "run", "-d", "--name", "sh1", "--expose", "3306", "busybox", "sh", "-c",
           "while true; do echo hello-from-server | nc -l -p 3306; done", check=True)
    docker(server_host, cli, "run", "-d", "--name", "sh2", "--link", "sh1:sh1", "-p", "3306:3306", "busybox",
           "sh", "-c", "while true; do nc -l -p 3306 -e nc $SH1_PORT_3306_TCP_ADDR $SH1_PORT_3306_TCP_PORT; done",
           check=True)
    # Client host: an ambassador told where the server host is, and the client linked to it
    docker(client_host, cli, "run", "-d", "--name", "ch2", "--expose", "3306",
           "-e", f"SH1_PORT_3306_TCP=tcp://{server_ip}:3306", "busybox", "sh", "-c",
           "addr=${SH1_PORT_3306_TCP#tcp://}; "
           "while true; do nc -l -p 3306 -e nc ${addr%:*} ${addr##*:}; done", check=True)

    def client() -> str:
        res = docker(client_host, cli, "run", "--rm", "--link", "ch2:ch2", "busybox", "sh", "-c",
                     "nc -w 3 $CH2_PORT_3306_TCP_ADDR $CH2_PORT_3306_TCP_PORT < /dev/null")
        return out(res)

    assert poll(client, timeout=40, interval=0.3).strip() == "hello-from-server"
    for d, name in ((server_host, "sh1"), (server_host, "sh2"), (client_host, "ch2")):
        docker(d, cli, "rm", "-f", name, check=True)
