"""Published ports through the real docker CLI: the seed's netcat example, busybox httpd
fetched from the host, -P with EXPOSE, the -p forms, UDP, a port in use, and teardown.

Every connection goes to 127.0.0.1 or to the test daemon's own bridge/containers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request

import pytest

from tests.daemon_harness import docker, out, poll

pytestmark = pytest.mark.integration


def inspect(d, cli, ref) -> dict:
    return json.loads(out(docker(d, cli, "inspect", ref, check=True)))[0]


def connect(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    """Connect once the container listens (the proxy accepts before the server is up, so a
    connection it cannot pass on is closed: retry until data flows both ways is proven by
    the caller)."""
    return socket.create_connection((host, port), timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_seed_netcat_example(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "-p", "10080", "busybox", "nc", "-l", "-p", "10080",
                     check=True)).strip()
    try:
        mapping = out(docker(hakod, docker_cli, "port", cid, check=True)).strip()
        assert mapping.startswith("10080/tcp -> 0.0.0.0:"), mapping
        port = int(mapping.rsplit(":", 1)[1])
        # all addresses: 0.0.0.0 and [::] on the same port, as Docker binds them
        assert out(docker(hakod, docker_cli, "port", cid, "10080", check=True)) == f"0.0.0.0:{port}\n[::]:{port}\n"

        def send() -> bool:
            with connect(port) as s:
                s.sendall(b"Hello World!\n")
                s.shutdown(socket.SHUT_WR)
                s.recv(1)  # EOF once nc has the line and exits
            return "Hello World!" in out(docker(hakod, docker_cli, "logs", cid))

        poll(send, timeout=15, interval=0.2)
        assert out(docker(hakod, docker_cli, "logs", cid)) == "Hello World!\n"
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_httpd_published_on_loopback(hakod, docker_cli, tmp_path):
    port = free_port()
    cid = out(docker(hakod, docker_cli, "run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
                     "mkdir -p /www && echo hello from hako > /www/index.html && httpd -f -p 80 -h /www",
                     check=True)).strip()
    try:
        info = inspect(hakod, docker_cli, cid)
        assert info["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}

        def fetch() -> str:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
            except OSError:
                return ""

        assert poll(fetch, timeout=15, interval=0.1) == "hello from hako\n"
        ps = out(docker(hakod, docker_cli, "ps", "--filter", f"id={cid}", "--format", "{{.Ports}}"))
        assert ps.strip() == f"127.0.0.1:{port}->80/tcp"
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    with pytest.raises(ConnectionRefusedError):  # nobody listens there any more
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_publish_all_with_expose_and_image_expose(hakod, docker_cli, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nEXPOSE 6379 8080/udp\n")
    docker(hakod, docker_cli, "build", "-q", "-t", "exposer", str(tmp_path), check=True)
    cid = out(docker(hakod, docker_cli, "run", "-d", "-P", "--expose", "7000", "exposer", "sleep", "60",
                     check=True)).strip()
    try:
        ports = inspect(hakod, docker_cli, cid)["NetworkSettings"]["Ports"]
        assert sorted(ports) == ["6379/tcp", "7000/tcp", "8080/udp"]
        assert all([b["HostIp"] for b in v] == ["0.0.0.0", "::"] and int(v[0]["HostPort"]) > 0
                   and v[0]["HostPort"] == v[1]["HostPort"] for v in ports.values())
        lines = out(docker(hakod, docker_cli, "port", cid, check=True)).splitlines()
        assert len(lines) == 6
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
        docker(hakod, docker_cli, "rmi", "exposer")


def test_exposed_but_unpublished_port_is_null(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "--expose", "6379", "busybox", "sleep", "60",
                     check=True)).strip()
    try:
        assert inspect(hakod, docker_cli, cid)["NetworkSettings"]["Ports"] == {"6379/tcp": None}
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_ip_empty_host_port_range_and_udp(hakod, docker_cli):
    base = free_port()
    cid = out(docker(hakod, docker_cli, "run", "-d", "-p", "127.0.0.1::5000",
                     "-p", f"127.0.0.1:{base}-{base + 5}:6000", "-p", "127.0.0.1::7000/udp",
                     "busybox", "sleep", "60", check=True)).strip()
    try:
        ports = inspect(hakod, docker_cli, cid)["NetworkSettings"]["Ports"]
        assert ports["5000/tcp"][0]["HostIp"] == "127.0.0.1"
        assert base <= int(ports["6000/tcp"][0]["HostPort"]) <= base + 5
        udp_port = int(ports["7000/udp"][0]["HostPort"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # held by the proxy
            with pytest.raises(OSError):
                s.bind(("127.0.0.1", udp_port))
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_port_in_use_is_docker_error_and_leaves_nothing(hakod, docker_cli):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        res = docker(hakod, docker_cli, "run", "--name", "portclash", "-p", f"127.0.0.1:{port}:80",
                     "-p", "127.0.0.1::81", "busybox", "true")
        assert res.returncode == 125
        err = res.stderr.decode()
        assert "driver failed programming external connectivity on endpoint portclash" in err
        assert f"listen tcp4 127.0.0.1:{port}: bind: address already in use" in err
        assert inspect(hakod, docker_cli, "portclash")["NetworkSettings"]["IPAddress"] == ""
    finally:
        holder.close()
        docker(hakod, docker_cli, "rm", "-f", "portclash")
    # ours too: a second container asking for a port the first holds
    port = free_port()
    first = out(docker(hakod, docker_cli, "run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "60",
                       check=True)).strip()
    try:
        res = docker(hakod, docker_cli, "run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
        assert res.returncode == 125
        assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in res.stderr.decode()
    finally:
        docker(hakod, docker_cli, "rm", "-f", first)


def test_ports_survive_a_daemon_sigkill(fresh_hakod, docker_cli):
    from tests.daemon_harness import import_busybox

    d = fresh_hakod()
    d.start()
    import_busybox(d)
    port = free_port()
    cid = out(docker(d, docker_cli, "run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
                     "mkdir /w && echo up > /w/index.html && httpd -f -p 80 -h /w", check=True)).strip()

    def fetch() -> str:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        except OSError:
            return ""

    assert poll(fetch, timeout=15, interval=0.1) == "up\n"
    d.kill9()
    assert fetch() == ""  # the proxy died with the daemon
    d.start()
    assert poll(fetch, timeout=15, interval=0.1) == "up\n"
    docker(d, docker_cli, "rm", "-f", cid, check=True)
    nft = subprocess.run(["nft", "list", "table", "ip", "hako_" + d.bridge], capture_output=True, text=True)
    assert f"dport {port}" not in nft.stdout
