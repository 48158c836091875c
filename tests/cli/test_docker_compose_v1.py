"""Debian's docker-compose 1.29.2 (the Python one, docker-py inside) drives hakod unchanged.

Black-box: every command goes through /usr/bin/docker-compose against the session's hakod,
in a temporary project directory of the test's own with a project name of its own; what
compose did is checked through the API (labels, states, ids). The seed's Fig example is
rewritten with busybox: ``db`` serves a value kept in a named volume with busybox httpd,
``web`` (built from a context) links to ``db`` under the alias ``database`` and, through the
``DB_HOST`` environment variable, fetches the value per request in a CGI script, served on
a published port of 127.0.0.1. Traffic stays on loopback and on the project's networks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request

import pytest

from tests.daemon_harness import poll

pytestmark = pytest.mark.integration

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"

WEB_DOCKERFILE = """\
FROM busybox
ARG MARK=built
RUN mkdir -p /www/cgi-bin && echo $MARK > /built \\
 && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\nwget -q -O - http://${DB_HOST:-$DB_PORT_6379_TCP_ADDR}:6379/value\\n' \\
    > /www/cgi-bin/db && chmod 755 /www/cgi-bin/db
"""

FIG = """\
version: "3.8"
services:
  db:
    image: busybox
    init: true
    command: sh -c 'mkdir -p /www && (test -s /data/value || echo "$$DB_VALUE" > /data/value)
      && ln -sf /data/value /www/value && echo db ready && exec httpd -f -p 6379 -h /www'
    environment:
      DB_VALUE: {value}
    expose: ["6379"]
    volumes:
      - dbdata:/data
  web:
    build: ./web
    init: true
    command: sh -c 'echo web ready; exec httpd -f -p 5000 -h /www'
    environment:
      DB_HOST: database
      NOTE: {note}
    ports:
      - "127.0.0.1:{port}:5000"
    links:
      - db:database
    depends_on:
      - db
  worker:
    image: busybox
    init: true
    command: sh -c 'echo worker up; exec sleep 3600'
    volumes_from:
      - db
    depends_on:
      - db
volumes:
  dbdata:
"""

# the seed's fig.yml as it was (version 1: no networks, legacy links on the default bridge,
# whose environment variables tell web where db is)
FIG_V1 = """\
web:
  build: web
  command: sh -c 'echo web sees $$DB_PORT_6379_TCP_ADDR; exec httpd -f -p 5000 -h /www'
  ports:
   - "127.0.0.1:{port}:5000"
  volumes:
   - .:/code
  links:
   - db
  stop_signal: SIGKILL
db:
  image: busybox
  command: sh -c 'mkdir /www && echo {value} > /www/value && exec httpd -f -p 6379 -h /www'
  expose: ["6379"]
  stop_signal: SIGKILL
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Project:
    """A compose project directory and the docker-compose command line against hakod."""

    def __init__(self, hakod, text: str) -> None:
        self.d = hakod
        self.dir = tempfile.mkdtemp(prefix="hako-compose-")
        self.name = "hkc" + os.urandom(3).hex()
        self.port = free_port()
        os.makedirs(os.path.join(self.dir, "web"))
        with open(os.path.join(self.dir, "web", "Dockerfile"), "w") as f:
            f.write(WEB_DOCKERFILE)
        self.write(text)

    def write(self, text: str, **values: str) -> None:
        with open(os.path.join(self.dir, "docker-compose.yml"), "w") as f:
            f.write(text.format(port=self.port, **({"value": "from-db", "note": "one"} | values)))

    def run(self, *args: str, check: bool = True, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        res = subprocess.run([COMPOSE, "-p", self.name, *args], cwd=self.dir, capture_output=True, text=True,
                             env=self.d.env | (env or {}),
                             stdin=subprocess.DEVNULL, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed ({res.returncode}):\n"
                                 f"{res.stdout}\n{res.stderr}\n{self.d.read_log()[-2000:]}")
        return res

    def api_list(self, kind: str, **labels: str) -> list[dict]:
        want = [f"com.docker.compose.project={self.name}"] + [f"com.docker.compose.{k}={v}"
                                                              for k, v in labels.items()]
        query = {"filters": json.dumps({"label": want})} | ({"all": "1"} if kind == "containers" else {})
        status, body = self.d.api("GET", f"/{kind}/json" if kind == "containers" else f"/{kind}", query=query)
        assert status == 200, body
        return body["Volumes"] or [] if kind == "volumes" else body

    def containers(self, service: str, running_only: bool = False) -> list[dict]:
        found = self.api_list("containers", service=service, oneoff="False")
        return [c for c in found if c["State"] == "running" or not running_only]

    def http(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
            return r.read().decode()

    def answer(self, path: str, expected: str) -> str:
        def get():
            try:
                text = self.http(path)
            except OSError:
                return ""
            return text if expected in text else ""
        return poll(get, timeout=30, interval=0.1)

    def cleanup(self) -> None:
        self.run("down", "-v", "--rmi", "local", "--remove-orphans", check=False)
        for c in self.api_list("containers"):
            self.d.api("DELETE", f"/containers/{c['Id']}", query={"force": "1", "v": "1"})
        for n in self.api_list("networks"):
            self.d.api("DELETE", f"/networks/{n['Id']}")
        for v in self.api_list("volumes"):
            self.d.api("DELETE", f"/volumes/{v['Name']}")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def project(hakod):
    if not os.path.exists(COMPOSE):
        pytest.skip("docker-compose is not installed (make install puts Debian's docker-compose in place)")
    made: list[Project] = []

    def factory(text: str = FIG) -> Project:
        p = Project(hakod, text)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.cleanup()


def _ids(containers: list[dict]) -> set[str]:
    return {c["Id"] for c in containers}


def test_fig_example_up_ps_logs_exec_run_recreate_down(project):
    p = project()
    p.run("up", "-d")
    # web fetches db's value through the link alias named by DB_HOST, on each request
    assert p.answer("/cgi-bin/db", "from-db").strip() == "from-db"
    web, db = p.containers("web", True), p.containers("db", True)
    assert len(web) == 1 and len(db) == 1 and len(p.containers("worker", True)) == 1
    assert web[0]["Names"] == [f"/{p.name}_web_1"] and web[0]["Labels"]["com.docker.compose.service"] == "web"

    ps = p.run("ps").stdout
    for service in ("db", "web", "worker"):
        line = next(ln for ln in ps.splitlines() if ln.startswith(f"{p.name}_{service}_1 "))
        assert " Up " in line, ps
    assert f"127.0.0.1:{p.port}->5000/tcp" in ps
    logs = poll(lambda: (lambda t: t if "worker up" in t and "web ready" in t else "")(
        p.run("logs", "--no-color").stdout))
    assert "db_1      | db ready" in logs and "web_1     | web ready" in logs and "worker_1  | worker up" in logs

    # exec, run --rm (exit code, -e, the link works from a one-off), volumes_from
    assert p.run("exec", "-T", "web", "cat", "/built").stdout == "built\n"
    assert p.run("exec", "-T", "worker", "cat", "/data/value").stdout == "from-db\n"
    res = p.run("run", "--rm", "web", "sh", "-c", "exit 7", check=False)
    assert res.returncode == 7, res.stderr
    out = p.run("run", "--rm", "-e", "FOO=bar", "web", "sh", "-c",
                'echo $FOO; wget -q -O - http://$DB_HOST:6379/value').stdout
    assert out.splitlines()[-2:] == ["bar", "from-db"]
    assert p.api_list("containers", oneoff="True") == []  # --rm removed the one-offs

    # a change to web's environment recreates web only
    before_web, before_db = _ids(web), _ids(db)
    before_worker = _ids(p.containers("worker", True))
    p.write(FIG, note="two")
    p.run("up", "-d")
    assert _ids(p.containers("web", True)) != before_web
    assert _ids(p.containers("db", True)) == before_db and _ids(p.containers("worker", True)) == before_worker
    assert p.answer("/cgi-bin/db", "from-db").strip() == "from-db"

    # a change to db's environment recreates db, and its named volume's data survives. As on
    # Docker, compose 1.x also recreates web, which links to db ("has upstream changes": its
    # service has links and, in Docker's inspect, a container on a user-defined network has no
    # HostConfig.Links); worker (volumes_from only) stays
    p.run("exec", "-T", "db", "sh", "-c", "echo kept > /data/extra")
    before_web = _ids(p.containers("web", True))
    p.write(FIG, value="changed", note="two")
    p.run("up", "-d")
    after_db = p.containers("db", True)
    assert len(after_db) == 1 and _ids(after_db) != before_db
    assert _ids(p.containers("worker", True)) == before_worker
    assert p.run("exec", "-T", "db", "sh", "-c", 'echo $DB_VALUE; cat /data/extra').stdout == "changed\nkept\n"
    # web reaches the new db through the same link
    assert p.answer("/cgi-bin/db", "from-db").strip() == "from-db"

    p.run("down", "-v")
    assert p.api_list("containers") == [] and p.api_list("volumes") == []
    status, networks = p.d.api("GET", "/networks")
    assert not [n for n in networks if n["Name"].startswith(p.name + "_")]


def test_scale_up_to_five_and_back_to_one(project):
    p = project()
    p.run("up", "-d", "--scale", "worker=5", "worker")
    workers = poll(lambda: (lambda w: w if len(w) == 5 else None)(p.containers("worker", True)))
    numbers = sorted(int(c["Labels"]["com.docker.compose.container-number"]) for c in workers)
    assert numbers == [1, 2, 3, 4, 5]
    # each replica mounts db's volume (volumes_from), each has the data
    assert p.run("exec", "-T", "--index=5", "worker", "cat", "/data/value").stdout == "from-db\n"
    p.run("up", "-d", "--scale", "worker=1", "worker")
    left = p.containers("worker")
    assert len(left) == 1 and left[0]["Names"] == [f"/{p.name}_worker_1"]
    p.run("scale", "worker=3")
    assert len(p.containers("worker", True)) == 3


def test_lifecycle_commands(project):
    p = project()
    p.run("up", "-d", "worker")  # and db, its dependency

    def state(service: str) -> str:
        return p.containers(service)[0]["State"]

    p.run("pause", "worker")
    assert state("worker") == "paused"
    p.run("unpause", "worker")
    assert state("worker") == "running"
    p.run("stop", "-t", "1", "worker")
    assert state("worker") == "exited"
    p.run("start", "worker")
    assert state("worker") == "running"
    first = p.containers("worker")[0]["Id"]
    status, before = p.d.api("GET", f"/containers/{first}/json")
    p.run("restart", "-t", "1", "worker")
    status, after = p.d.api("GET", f"/containers/{first}/json")
    assert after["State"]["Running"] and after["State"]["StartedAt"] != before["State"]["StartedAt"]
    p.run("kill", "-s", "SIGKILL", "worker")
    assert poll(lambda: p.d.api("GET", f"/containers/{first}/json")[1]["State"]["ExitCode"] == 137)
    p.run("rm", "-f", "worker")
    assert p.containers("worker") == [] and state("db") == "running"

    # a one-off with the service's published ports
    p.run("run", "-d", "--service-ports", "web")
    oneoff = p.api_list("containers", oneoff="True")
    assert len(oneoff) == 1 and oneoff[0]["Names"][0].startswith(f"/{p.name}_web_run_")
    assert p.answer("/cgi-bin/db", "from-db").strip() == "from-db"
    p.run("down")
    assert p.api_list("containers") == []


def test_build_config_and_down_rmi_local(project):
    p = project()
    # docker-py's /build (compose's own builder), with a build argument
    text = FIG.replace("    build: ./web\n", "    build:\n      context: ./web\n      args:\n        MARK: arg-ok\n")
    p.write(text)
    out = p.run("build", "web", env={"COMPOSE_DOCKER_CLI_BUILD": "0"})
    assert "Successfully built" in out.stdout + out.stderr
    image = f"{p.name}_web"
    status, info = p.d.api("GET", f"/images/{image}/json")
    assert status == 200, info
    assert p.run("run", "--rm", "--no-deps", "web", "cat", "/built").stdout.splitlines()[-1] == "arg-ok"

    config = p.run("config").stdout
    assert "args:\n        MARK: arg-ok" in config and f"- 127.0.0.1:{p.port}:5000/tcp" in config
    assert p.run("config", "--services").stdout.split() == ["db", "web", "worker"]
    assert p.run("config", "--volumes").stdout.split() == ["dbdata"]

    p.run("up", "-d", "--no-build")
    p.run("down", "-v", "--rmi", "local")
    assert p.d.api("GET", f"/images/{image}/json")[0] == 404
    assert p.d.api("GET", "/images/busybox/json")[0] == 200  # not local to the project: kept
    assert p.api_list("containers") == [] and p.api_list("volumes") == []


def test_seed_fig_v1_file_with_legacy_links(project):
    p = project(FIG_V1)
    p.run("up", "-d")
    assert p.answer("/cgi-bin/db", "from-db").strip() == "from-db"
    db = p.containers("db", True)[0]
    status, info = p.d.api("GET", f"/containers/{db['Id']}/json")
    ip = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    web = p.containers("web", True)[0]
    status, info = p.d.api("GET", f"/containers/{web['Id']}/json")
    assert info["HostConfig"]["NetworkMode"] == "default"
    assert f"/{p.name}_db_1:/{p.name}_web_1/db" in info["HostConfig"]["Links"]
    assert f"DB_PORT_6379_TCP_ADDR={ip}" in p.run("exec", "-T", "web", "env").stdout
    assert f"web sees {ip}" in poll(lambda: p.run("logs", "--no-color", "web").stdout)
    p.run("down")
    assert p.api_list("containers") == []


NETS = """\
version: "3.8"
services:
  a:
    image: busybox
    init: true
    command: sh -c 'echo a up; exec sleep 3600'
    hostname: ahost
    secrets: [tok]
    networks:
      front:
        aliases: [alpha]
        ipv4_address: {subnet}.10
      back: {{}}
    volumes:
      - type: volume
        source: v1
        target: /v1
  b:
    image: busybox
    init: true
    command: sh -c 'echo b up; exec sleep 3600'
    networks: [back]
    external_links: ["{ext}:legacy"]
  side:
    image: busybox
    init: true
    network_mode: "service:a"
    command: sh -c 'exec sleep 3600'
networks:
  front:
    ipam:
      config: [{{subnet: {subnet}.0/24}}]
    labels: {{team: front}}
  back:
    internal: true
volumes:
  v1:
    labels: {{kind: scratch}}
    driver_opts: {{type: tmpfs, device: tmpfs}}
secrets:
  tok:
    file: ./secret.txt
"""


def test_networks_volumes_and_service_options(project, hakod):
    p = project("")
    octet = int(p.name[-2:], 16) % 200 + 20
    subnet = f"10.217.{octet}"
    with open(os.path.join(p.dir, "secret.txt"), "w") as f:
        f.write("s3cret\n")
    with open(os.path.join(p.dir, "docker-compose.yml"), "w") as f:
        f.write(NETS.format(subnet=subnet, ext=p.name + "-ext"))
    status, body = hakod.api("POST", "/networks/create", {"Name": p.name + "-extnet"})
    assert status == 201, body
    status, ext = hakod.api("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": p.name + "-extnet", "Init": True},
        "Labels": {"com.docker.compose.project": p.name}}, query={"name": p.name + "-ext"})
    assert status == 201, ext
    try:
        assert hakod.api("POST", f"/containers/{ext['Id']}/start")[0] == 204
        # b reaches the external container through external_links once it shares its network
        text = NETS.format(subnet=subnet, ext=p.name + "-ext").replace(
            "    networks: [back]\n", "    networks: [back, extnet]\n").replace(
            "networks:\n  front:", f"networks:\n  extnet:\n    external: true\n    name: {p.name}-extnet\n  front:")
        with open(os.path.join(p.dir, "docker-compose.yml"), "w") as f:
            f.write(text)
        p.run("up", "-d")
        a = p.containers("a", True)[0]
        status, info = hakod.api("GET", f"/containers/{a['Id']}/json")
        front = info["NetworkSettings"]["Networks"][f"{p.name}_front"]
        assert front["IPAddress"] == f"{subnet}.10" and "alpha" in front["Aliases"]
        status, net = hakod.api("GET", f"/networks/{p.name}_front")
        assert net["Labels"]["team"] == "front" and net["Labels"]["com.docker.compose.network"] == "front"
        status, net = hakod.api("GET", f"/networks/{p.name}_back")
        assert net["Internal"] is True
        status, vol = hakod.api("GET", f"/volumes/{p.name}_v1")
        assert vol["Labels"]["kind"] == "scratch" and vol["Options"] == {"type": "tmpfs", "device": "tmpfs"}

        out = p.run("exec", "-T", "a", "sh", "-c", "cat /run/secrets/tok; hostname; grep /v1 /proc/mounts").stdout
        assert out.startswith("s3cret\nahost\n") and " /v1 tmpfs " in out
        out = p.run("exec", "-T", "b", "sh", "-c",
                    "nslookup a 127.0.0.11; nslookup legacy 127.0.0.11; nslookup alpha 127.0.0.11 || true").stdout
        ext_ip = hakod.api("GET", f"/containers/{ext['Id']}/json")[1]["NetworkSettings"]["Networks"][
            p.name + "-extnet"]["IPAddress"]
        back_ip = info["NetworkSettings"]["Networks"][f"{p.name}_back"]["IPAddress"]
        assert f"Name:\ta\nAddress: {back_ip}" in out and f"Name:\tlegacy\nAddress: {ext_ip}" in out
        assert "can't find alpha" in out  # front's alias: b is not on front
        # side shares a's network stack
        side = p.run("exec", "-T", "side", "ip", "-4", "-o", "addr").stdout
        assert f"{subnet}.10/24" in side

        p.run("down", "-v")
        assert p.api_list("volumes") == [] and [c["Id"] for c in p.api_list("containers")] == [ext["Id"]]
        assert hakod.api("GET", f"/networks/{p.name}_front")[0] == 404
        assert hakod.api("GET", f"/networks/{p.name}-extnet")[0] == 200  # external: left alone
    finally:
        hakod.api("DELETE", f"/containers/{ext['Id']}", query={"force": "1"})
        hakod.api("DELETE", f"/networks/{p.name}-extnet")
