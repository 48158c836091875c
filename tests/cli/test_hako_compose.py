"""Black-box: ``hako compose`` against a live hakod (the seed's Fig example on busybox,
recreation, scaling, teardown, dependency conditions, refusals that create nothing)."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.daemon_harness import poll

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "compose"
LABEL = "com.docker.compose.project"


def compose(d, project_dir, *args, env=None, timeout=120):
    import subprocess

    full = dict(d.env)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "hako.cli", "compose", *args],
                          capture_output=True, env=full, cwd=str(project_dir), timeout=timeout)


def ok(d, project_dir, *args, **kw) -> str:
    res = compose(d, project_dir, *args, **kw)
    assert res.returncode == 0, (args, res.returncode, res.stderr.decode())
    return res.stdout.decode() + res.stderr.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resources(d, project: str) -> dict[str, list]:
    flt = json.dumps({"label": [f"{LABEL}={project}"]})
    _, cs = d.api("GET", "/containers/json", query={"all": "1", "filters": flt})
    _, nets = d.api("GET", "/networks", query={"filters": flt})
    _, vols = d.api("GET", "/volumes", query={"filters": flt})
    return {"containers": cs, "networks": nets, "volumes": vols["Volumes"] or []}


@pytest.fixture
def project(hakod, tmp_path):
    """A unique project name; everything of that project is removed afterwards."""
    name = f"hc{uuid.uuid4().hex[:8]}"
    yield name
    compose(hakod, tmp_path, "-p", name, "down", "-v", "-t", "0", "--remove-orphans")
    left = resources(hakod, name)
    for c in left["containers"]:
        hakod.api("DELETE", f"/containers/{c['Id']}", query={"force": "1", "v": "1"})
    for n in left["networks"]:
        hakod.api("DELETE", f"/networks/{n['Id']}")
    for v in left["volumes"]:
        hakod.api("DELETE", f"/volumes/{v['Name']}")


def test_fig_example_web_answers_with_db_data(hakod, tmp_path, project):
    shutil.copytree(DATA / "fig", tmp_path / "fig")
    port = free_port()
    env = {"WEB_PORT": str(port)}
    out = ok(hakod, tmp_path / "fig", "-p", project, "up", "-d", env=env)
    assert "Fig/v1 file format is deprecated" in out
    assert f" Container {project}-db-1  Started" in out
    assert out.index(f"{project}-db-1  Started") < out.index(f"{project}-web-1  Started")

    def answer():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                body = r.read().decode()
        except OSError:
            return None
        return body if "db says" in body else None

    assert poll(answer, timeout=20).strip() == "db says hello from db"
    found = resources(hakod, project)
    assert sorted(c["Names"][0] for c in found["containers"]) == \
        [f"/{project}-db-1", f"/{project}-web-1"]
    labels = next(c["Labels"] for c in found["containers"] if c["Names"][0].endswith("web-1"))
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert len(labels["com.docker.compose.config-hash"]) == 64
    assert labels["com.docker.compose.project.config_files"] == str(tmp_path / "fig" / "fig.yml")
    assert [n["Name"] for n in found["networks"]] == [f"{project}_default"]
    ps = ok(hakod, tmp_path / "fig", "-p", project, "ps", env=env).splitlines()
    assert ps[0].split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert any(f"127.0.0.1:{port}->5000/tcp" in line for line in ps)
    res = compose(hakod, tmp_path / "fig", "-p", project, "port", "web", "5000", env=env)
    assert res.stdout.decode() == f"127.0.0.1:{port}\n"
    assert "exec-ok" in ok(hakod, tmp_path / "fig", "-p", project, "exec", "-T", "web",
                           "echo", "exec-ok", env=env)
    run = ok(hakod, tmp_path / "fig", "-p", project, "run", "--rm", "--no-deps", "-e", "X=42",
             "db", "sh", "-c", "echo run-$X", env=env)
    assert "run-42" in run
    assert len(resources(hakod, project)["containers"]) == 2  # --rm removed the one-off
    out = ok(hakod, tmp_path / "fig", "-p", project, "down", "-v", "-t", "1", env=env)
    assert out.index(f"{project}-web-1  Removed") < out.index(f"{project}-db-1  Removed")
    assert resources(hakod, project) == {"containers": [], "networks": [], "volumes": []}


RECREATE = """
services:
  web:
    image: busybox
    init: true
    command: sleep 1000
    environment:
      MODE: "${MODE:-one}"
  db:
    image: busybox
    init: true
    command: sh -c '[ -f /data/first ] || echo "$$(date +%s%N)-$$MODE" > /data/first; [ -f /anon/first ] || cp /data/first /anon/first; exec sleep 1000'
    environment:
      MODE: "${DBMODE:-one}"
    volumes: [data:/data, /anon]
volumes:
  data: {}
"""


def _ids(d, project):
    return {c["Labels"]["com.docker.compose.service"] + "-" +
            c["Labels"]["com.docker.compose.container-number"]: c["Id"]
            for c in resources(d, project)["containers"]}


def _cat(d, project, path):
    import subprocess

    res = subprocess.run([sys.executable, "-m", "hako.cli", "exec", f"{project}-db-1", "cat",
                          path], capture_output=True, env=d.env, timeout=30)
    return res.stdout.decode()


def test_recreate_only_changed_service_and_volume_survives(hakod, tmp_path, project):
    (tmp_path / "compose.yaml").write_text(RECREATE)
    ok(hakod, tmp_path, "-p", project, "up", "-d")
    before = _ids(hakod, project)
    data = poll(lambda: _cat(hakod, project, "/data/first"))
    assert data.strip().endswith("-one")
    assert poll(lambda: _cat(hakod, project, "/anon/first")) == data
    out = ok(hakod, tmp_path, "-p", project, "up", "-d")  # nothing changed
    assert _ids(hakod, project) == before
    assert "Recreate" not in out and f"{project}-web-1  Running" in out
    out = ok(hakod, tmp_path, "-p", project, "up", "-d", env={"DBMODE": "two"})
    after = _ids(hakod, project)
    assert after["web-1"] == before["web-1"]
    assert after["db-1"] != before["db-1"]
    assert f" Container {project}-db-1  Recreate" in out and f"{project}-web-1  Recreate" \
        not in out
    assert poll(lambda: _cat(hakod, project, "/data/first")) == data  # the volume survived
    assert _cat(hakod, project, "/anon/first") == data  # and the anonymous one was carried over
    _, info = hakod.api("GET", f"/containers/{after['db-1']}/json")
    assert "MODE=two" in info["Config"]["Env"]
    out = ok(hakod, tmp_path, "-p", project, "up", "-d", "--force-recreate", "web",
             env={"DBMODE": "two"})
    final = _ids(hakod, project)
    assert final["web-1"] != after["web-1"] and final["db-1"] == after["db-1"]


def test_scale_up_to_five_and_down_to_one(hakod, tmp_path, project):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    init: true\n    command: sleep 1000\n")
    ok(hakod, tmp_path, "-p", project, "up", "-d", "--scale", "web=5")
    ids = _ids(hakod, project)
    assert sorted(ids) == [f"web-{i}" for i in range(1, 6)]
    _, states = hakod.api("GET", "/containers/json", query={
        "filters": json.dumps({"label": [f"{LABEL}={project}"]})})
    assert len(states) == 5  # all running
    out = ok(hakod, tmp_path, "-p", project, "up", "-d", "--scale", "web=1")
    assert sorted(_ids(hakod, project)) == ["web-1"]
    assert _ids(hakod, project)["web-1"] == ids["web-1"]
    assert f"{project}-web-5  Removed" in out
    ok(hakod, tmp_path, "-p", project, "down", "-t", "0")
    assert resources(hakod, project) == {"containers": [], "networks": [], "volumes": []}


def test_attached_up_prefixes_logs_and_exit_code_from(hakod, tmp_path, project):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    command: sh -c 'echo hello from a; exit 3'\n"
        "  b:\n    image: busybox\n    init: true\n    command: sleep 1000\n"
        "  c:\n    image: busybox\n    init: true\n    attach: false\n"
        "    command: sh -c 'echo not-attached; exec sleep 1000'\n")
    res = compose(hakod, tmp_path, "-p", project, "up", "--exit-code-from", "a")
    out = res.stdout.decode()
    assert res.returncode == 3, res.stderr.decode()
    assert "a-1  | hello from a" in out
    assert "a-1 exited with code 3" in out
    assert "not-attached" not in out  # attach: false
    assert "Aborting on container exit..." in res.stderr.decode()
    logs = ok(hakod, tmp_path, "-p", project, "logs", "--no-color", "a")
    assert "a-1  | hello from a" in logs


HEALTHY = """
services:
  web:
    image: busybox
    init: true
    command: sleep 1000
    depends_on:
      db:
        condition: service_healthy
  db:
    image: busybox
    init: true
    command: sh -c 'sleep 1; touch /tmp/ready; exec sleep 1000'
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 200ms
      retries: 30
"""


def test_depends_on_service_healthy_waits(hakod, tmp_path, project):
    (tmp_path / "compose.yaml").write_text(HEALTHY)
    out = ok(hakod, tmp_path, "-p", project, "up", "-d")
    assert out.index(f"{project}-db-1  Healthy") < out.index(f"{project}-web-1  Started")
    _, info = hakod.api("GET", f"/containers/{project}-db-1/json")
    assert info["State"]["Health"]["Status"] == "healthy"


BAD = {
    "unknown key": ("services:\n  web:\n    image: busybox\n    imagee: x\n",
                    ":4: services.web: additional property 'imagee' is not allowed"),
    "dependency cycle": ("services:\n  a:\n    image: busybox\n    depends_on: [b]\n"
                         "  b:\n    image: busybox\n    depends_on: [a]\n",
                         ":7: services.b.depends_on.a: dependency cycle detected: a -> b -> a"),
    "undefined variable": ("services:\n  web:\n    image: busybox:${TAG:?TAG must be set}\n",
                           ":3: services.web.image: required variable TAG is missing a value: "
                           "TAG must be set"),
    "port conflict": ("services:\n  a:\n    image: busybox\n    ports: ['127.0.0.1:18999:80']\n"
                      "  b:\n    image: busybox\n    ports: ['127.0.0.1:18999:81']\n",
                      ':7: services.b.ports.0: port 127.0.0.1:18999/tcp is published by '
                      'services "a" and "b"'),
    "bad restart policy": ("services:\n  a:\n    image: busybox\n    restart: sometimes\n"
                           "  b:\n    image: busybox\n",
                           ":4: services.a.restart: invalid restart policy"),
    "missing build context": ("services:\n  a:\n    build: ./nope\n  b:\n    image: busybox\n",
                              ":3: services.a.build: build context"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_and_creates_nothing(hakod, tmp_path, project, case):
    text, error = BAD[case]
    (tmp_path / "compose.yaml").write_text(text)
    res = compose(hakod, tmp_path, "-p", project, "up", "-d")
    assert res.returncode == 1
    stderr = res.stderr.decode()
    assert stderr.startswith(str(tmp_path / "compose.yaml") + ":"), stderr
    assert error in stderr, stderr
    assert resources(hakod, project) == {"containers": [], "networks": [], "volumes": []}


def _states(d, project):
    return {c["Labels"]["com.docker.compose.service"] + "-" +
            c["Labels"]["com.docker.compose.container-number"]: c["State"]
            for c in resources(d, project)["containers"]}


def test_lifecycle_verbs(hakod, tmp_path, project):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    init: true\n    command: sleep 1000\n"
        "  b:\n    image: busybox\n    init: true\n    command: sleep 1000\n"
        "    depends_on: [a]\n")
    ok(hakod, tmp_path, "-p", project, "create")
    assert _states(hakod, project) == {"a-1": "created", "b-1": "created"}
    ok(hakod, tmp_path, "-p", project, "start")
    assert _states(hakod, project) == {"a-1": "running", "b-1": "running"}
    ok(hakod, tmp_path, "-p", project, "pause", "b")
    assert _states(hakod, project)["b-1"] == "paused"
    ok(hakod, tmp_path, "-p", project, "unpause", "b")
    out = ok(hakod, tmp_path, "-p", project, "stop", "-t", "1")
    assert out.index(f"{project}-b-1  Stopped") < out.index(f"{project}-a-1  Stopped")
    assert set(_states(hakod, project).values()) == {"exited"}
    ok(hakod, tmp_path, "-p", project, "restart", "a")
    assert _states(hakod, project) == {"a-1": "running", "b-1": "exited"}
    ok(hakod, tmp_path, "-p", project, "kill", "a")
    poll(lambda: _states(hakod, project)["a-1"] == "exited")
    listing = ok(hakod, tmp_path, "ls", "-a")
    assert any(line.split()[0] == project and "exited(2)" in line
               for line in listing.splitlines())
    ok(hakod, tmp_path, "-p", project, "rm", "-f")
    assert _states(hakod, project) == {}


def test_build_service_image(hakod, tmp_path, project):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile.app").write_text(
        "FROM busybox\nARG WORD\nRUN echo \"built $WORD\" > /built\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    build:\n      context: ./app\n      dockerfile: Dockerfile.app\n"
        "      args: {WORD: yes-it-was}\n    command: cat /built\n")
    try:
        out = ok(hakod, tmp_path, "-p", project, "up", "--exit-code-from", "app")
        assert "app-1  | built yes-it-was" in out
        _, img = hakod.api("GET", f"/images/{project}-app/json")
        assert img["RepoTags"] == [f"{project}-app:latest"]
        images = ok(hakod, tmp_path, "-p", project, "images")
        assert f"{project}-app" in images and images.startswith("CONTAINER")
    finally:
        ok(hakod, tmp_path, "-p", project, "down", "--rmi", "local")
    status, _ = hakod.api("GET", f"/images/{project}-app/json")
    assert status == 404


def test_attached_up_stops_the_project_on_sigterm(hakod, tmp_path, project):
    import signal
    import subprocess

    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    init: true\n"
        "    command: sh -c 'echo up-and-running; exec sleep 1000'\n")
    env = dict(hakod.env)
    proc = subprocess.Popen([sys.executable, "-m", "hako.cli", "compose", "-p", project, "up"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        poll(lambda: _states(hakod, project).get("a-1") == "running", timeout=30)
        line = proc.stdout.readline().decode()
        assert line == "a-1  | up-and-running\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Gracefully stopping..." in proc.stderr.read().decode()
    assert _states(hakod, project) == {"a-1": "exited"}


def test_top_cp_and_events(hakod, tmp_path, project):
    import subprocess

    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    init: true\n    command: sleep 1000\n")
    events = subprocess.Popen([sys.executable, "-m", "hako.cli", "compose", "-p", project,
                               "events", "--json"], cwd=tmp_path, env=hakod.env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        _wait_subscribed(hakod, events, project)  # else `up` may run before it listens
        ok(hakod, tmp_path, "-p", project, "up", "-d")
        ours = _event_lines(events, lambda e: e["service"] == "a" and e["action"] != "create",
                            keep=lambda e: e["service"] == "a")
        assert ours[0]["action"] == "create"
        assert ours[1]["action"] in ("connect", "start")
    finally:
        events.kill()
        events.wait()
    top = ok(hakod, tmp_path, "-p", project, "top")
    assert f"{project}-a-1" in top and "sleep 1000" in top
    (tmp_path / "in.txt").write_text("copied in\n")
    ok(hakod, tmp_path, "-p", project, "cp", str(tmp_path / "in.txt"), "a:/tmp/in.txt")
    ok(hakod, tmp_path, "-p", project, "cp", "a:/tmp/in.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.txt").read_text() == "copied in\n"


def _wait_subscribed(hakod, events, project: str, timeout: float = 30.0) -> None:
    """Make and remove probe containers of ``project`` through the API until the ``compose
    events`` process shows one's removal: from then on it sees every event."""
    import time

    labels = {"com.docker.compose.project": project, "com.docker.compose.service": "probe"}
    deadline = time.monotonic() + timeout
    while True:
        status, made = hakod.api("POST", "/containers/create", {"Image": "busybox", "Labels": labels})
        assert status == 201, made
        assert hakod.api("DELETE", f"/containers/{made['Id']}")[0] == 204
        try:
            _event_lines(events, lambda e: e["id"] == made["Id"] and e["action"] == "destroy",
                         timeout=1.0)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _event_lines(proc, until, keep=lambda e: True, timeout: float = 30.0) -> list[dict]:
    """Events (``--json`` lines) read from ``proc`` until one matches ``until`` (included),
    those for which ``keep`` is true; fails after ``timeout`` seconds without a match."""
    import os
    import select
    import time

    got, buf, fd = [], b"", proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while True:
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            event = json.loads(line)
            if keep(event):
                got.append(event)
            if until(event):
                return got
        left = deadline - time.monotonic()
        assert left > 0 and select.select([fd], [], [], left)[0], f"no such event; saw {got}"
        chunk = os.read(fd, 65536)
        assert chunk, f"compose events exited; saw {got}"
        buf += chunk


def test_docker_compose_sees_a_hako_compose_project(hakod, tmp_path, project):
    """The labels are compose's: Debian's docker-compose 1.29 lists and stops what hako
    compose made."""
    import subprocess

    dc = shutil.which("docker-compose")
    if not dc:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "docker-compose.yml").write_text(
        "version: '3.7'\nservices:\n  web:\n    image: busybox\n    init: true\n"
        "    command: sleep 1000\n")
    ok(hakod, tmp_path, "-p", project, "up", "-d", "--scale", "web=2")
    res = subprocess.run([dc, "-p", project, "ps", "--services"], cwd=tmp_path,
                         env=hakod.env, capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().split() == ["web"]
    res = subprocess.run([dc, "-p", project, "ps", "-q"], cwd=tmp_path, env=hakod.env,
                         capture_output=True, timeout=60)
    assert sorted(res.stdout.decode().split()) == sorted(_ids(hakod, project).values())
    res = subprocess.run([dc, "-p", project, "stop", "-t", "1"], cwd=tmp_path, env=hakod.env,
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    assert set(_states(hakod, project).values()) == {"exited"}


def test_hako_compose_manages_a_docker_compose_project(hakod, tmp_path, project):
    """And the other way round: what docker-compose 1.29 made, hako compose lists and
    takes down (containers, network, volume)."""
    import subprocess

    dc = shutil.which("docker-compose")
    if not dc:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "docker-compose.yml").write_text(
        "version: '3.7'\nservices:\n  web:\n    image: busybox\n    init: true\n"
        "    command: sleep 1000\n    volumes: [data:/data]\nvolumes:\n  data: {}\n")
    res = subprocess.run([dc, "-p", project, "up", "-d"], cwd=tmp_path, env=hakod.env,
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    ps = ok(hakod, tmp_path, "-p", project, "ps")
    assert f"{project}_web_1" in ps and " web " in ps
    ok(hakod, tmp_path, "-p", project, "down", "-v", "-t", "1")
    assert resources(hakod, project) == {"containers": [], "networks": [], "volumes": []}
