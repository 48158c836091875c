"""Legacy links through the real docker CLI: environment and hosts as Docker sets them,
``rm -l``, bad links, and ``--icc=false`` isolation opened exactly by links (the seed's redis
example, with busybox httpd standing in for redis). Traffic stays on the test's bridge.
"""

from __future__ import annotations

import json

import pytest

from tests.daemon_harness import docker, import_busybox, out, poll

pytestmark = pytest.mark.integration


def inspect(d, cli, ref) -> dict:
    return json.loads(out(docker(d, cli, "inspect", ref, check=True)))[0]


def test_link_env_and_hosts(hakod, docker_cli):
    docker(hakod, docker_cli, "run", "-d", "--name", "redis1", "--expose", "6379", "-e", "REDIS_VERSION=7",
           "busybox", "sleep", "60", check=True)
    try:
        child = inspect(hakod, docker_cli, "redis1")
        ip, hostname = child["NetworkSettings"]["IPAddress"], child["Config"]["Hostname"]
        text = out(docker(hakod, docker_cli, "run", "--rm", "--name", "web1", "--link", "redis1:db", "busybox",
                          "sh", "-c", "env | grep ^DB_ | sort; cat /etc/hosts", check=True))
        env = [ln for ln in text.splitlines() if ln.startswith("DB_")]
        assert env == sorted([
            f"DB_PORT=tcp://{ip}:6379", f"DB_PORT_6379_TCP=tcp://{ip}:6379", f"DB_PORT_6379_TCP_ADDR={ip}",
            "DB_PORT_6379_TCP_PORT=6379", "DB_PORT_6379_TCP_PROTO=tcp", "DB_NAME=/web1/db",
            "DB_ENV_REDIS_VERSION=7"])
        assert f"{ip}\tdb {hostname} redis1\n" in text
    finally:
        docker(hakod, docker_cli, "rm", "-f", "redis1")


def test_link_recorded_and_removed_with_rm_l(hakod, docker_cli):
    docker(hakod, docker_cli, "run", "-d", "--name", "child2", "busybox", "sleep", "60", check=True)
    docker(hakod, docker_cli, "create", "--name", "parent2", "--link", "child2:al", "busybox", "true", check=True)
    try:
        assert inspect(hakod, docker_cli, "parent2")["HostConfig"]["Links"] == ["/child2:/parent2/al"]
        docker(hakod, docker_cli, "rm", "-l", "/parent2/al", check=True)
        assert inspect(hakod, docker_cli, "parent2")["HostConfig"]["Links"] is None
        assert docker(hakod, docker_cli, "ps", "-q", "--filter", "name=child2").stdout.strip()
    finally:
        docker(hakod, docker_cli, "rm", "-f", "parent2", "child2")


def test_bad_links_are_docker_errors(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "--link", "missing1:db", "busybox", "true")
    assert res.returncode == 125
    assert b"could not get container for missing1: No such container: missing1" in res.stderr
    docker(hakod, docker_cli, "create", "--name", "stopped3", "busybox", "true", check=True)
    try:
        res = docker(hakod, docker_cli, "run", "--rm", "--link", "stopped3:db", "busybox", "true")
        assert res.returncode == 125
        assert b"Cannot link to a non running container: /stopped3 AS /" in res.stderr
    finally:
        docker(hakod, docker_cli, "rm", "-f", "stopped3")


def _http(d, cli, target: str, *args: str) -> str:
    """An HTTP GET from a fresh container with busybox nc (2 s timeout): the reply, or "".
    ``target`` is "ADDR PORT" and may use the link's variables."""
    res = docker(d, cli, "run", "--rm", *args, "busybox", "sh", "-c",
                 f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 {target}')
    return out(res)


def test_icc_false_isolates_and_links_open_exactly_the_exposed_ports(fresh_hakod, docker_cli):
    d = fresh_hakod(extra_args=("--icc=false",))
    d.start()
    import_busybox(d)
    docker(d, docker_cli, "run", "-d", "--name", "srv", "--expose", "80", "busybox", "sh", "-c",
           "mkdir /w && echo linked-ok > /w/index.html && httpd -p 80 -h /w && httpd -f -p 8080 -h /w",
           check=True)
    ip = inspect(d, docker_cli, "srv")["NetworkSettings"]["IPAddress"]
    # the link opens port 80 (exposed): poll until httpd answers
    assert poll(lambda: "linked-ok" in _http(d, docker_cli, "$WEB_PORT_80_TCP_ADDR 80", "--link", "srv:web"),
                timeout=30, interval=0.2)
    # not 8080 (not exposed), and nothing for an unlinked container
    assert _http(d, docker_cli, "$WEB_PORT_80_TCP_ADDR 8080", "--link", "srv:web") == ""
    assert _http(d, docker_cli, f"{ip} 80") == ""
    # the host (the bridge's gateway) still reaches it
    assert "linked-ok" in _http(d, docker_cli, f"{ip} 8080", "--network", "host")
    docker(d, docker_cli, "rm", "-f", "srv", check=True)
