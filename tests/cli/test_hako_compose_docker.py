"""``hako compose`` against a real dockerd: the Fig example comes up, web answers with db's
data (on its address on the project network), its port is published as asked, ``down -v``
leaves nothing of the project. Runs when a dockerd answers on
``$HAKO_COMPOSE_DOCKER`` (default ``unix:///var/run/docker.sock``); never starts one
(``bench/compose.py --with-docker`` does, for the figures). A dockerd without
``busybox:latest`` gets hako's test busybox imported, and removed again afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.daemon_harness import poll

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "compose"
HOST = os.environ.get("HAKO_COMPOSE_DOCKER", "unix:///var/run/docker.sock")


def _answers(host: str) -> bool:
    import socket

    path = host[len("unix://"):] if host.startswith("unix://") else ""
    if not path or not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in s.recv(4096)
    except OSError:
        return False


@pytest.fixture(scope="module")
def dockerd(docker_cli, hakod, tmp_path_factory):
    if not _answers(HOST):
        pytest.skip(f"no dockerd answers on {HOST} (set HAKO_COMPOSE_DOCKER)")
    env = dict(os.environ, DOCKER_HOST=HOST, HAKO_HOST=HOST,
               DOCKER_CONFIG=str(tmp_path_factory.mktemp("docker-config")))
    env.pop("DOCKER_CONTEXT", None)

    def docker(*args, check=True):
        res = subprocess.run([docker_cli, *args], env=env, capture_output=True, timeout=120)
        assert not check or res.returncode == 0, res.stderr.decode()
        return res.stdout.decode()

    imported = subprocess.run([docker_cli, "image", "inspect", "busybox:latest"], env=env,
                              capture_output=True).returncode != 0
    if imported:
        docker("import", "--change", 'CMD ["sh"]', os.path.join(hakod.root, "busybox.tar"),
               "busybox:latest")
    yield env, docker
    if imported:
        docker("rmi", "busybox:latest", check=False)


def test_fig_example_on_dockerd(dockerd, tmp_path):
    env, docker = dockerd
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shutil.copytree(DATA / "fig", tmp_path / "fig")
    project = f"hcd{uuid.uuid4().hex[:8]}"
    env = dict(env, WEB_PORT=str(port))

    def compose(*args):
        return subprocess.run([sys.executable, "-m", "hako.cli", "compose", "-p", project,
                               *args], env=env, cwd=tmp_path / "fig", capture_output=True,
                              timeout=180)

    def left():
        flt = f"label=com.docker.compose.project={project}"
        return (docker("ps", "-aq", "--filter", flt).split(),
                docker("network", "ls", "-q", "--filter", flt).split(),
                docker("volume", "ls", "-q", "--filter", flt).split())

    try:
        res = compose("up", "-d")
        assert res.returncode == 0, res.stderr.decode()

        info = json.loads(docker("inspect", f"{project}-web-1"))[0]
        ip = info["NetworkSettings"]["Networks"][f"{project}_default"]["IPAddress"]
        assert info["NetworkSettings"]["Ports"]["5000/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(port)}]

        def answer():  # the container's address: the reference dockerd may run without
            try:       # a userland proxy or iptables (bench/dockerd.py does)
                with urllib.request.urlopen(f"http://{ip}:5000/", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                return None
            return body if "db says" in body else None

        assert poll(answer, timeout=30).strip() == "db says hello from db"
        labels = info["Config"]["Labels"]
        assert labels["com.docker.compose.project"] == project
        assert labels["com.docker.compose.service"] == "web"
    finally:
        res = compose("down", "-v", "-t", "1")
    assert res.returncode == 0, res.stderr.decode()
    assert left() == ([], [], [])
