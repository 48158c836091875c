"""Black-box: health checks through the real docker CLI (and the hako CLI): a check that starts
failing turns the container unhealthy after ``retries`` probes and healthy again, with
Docker's events, ps text, filter, timeout result and pause/restart behaviour; the health
log survives a SIGKILL of hakod and probing resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from hako.daemon.api.wire import parse_time
from tests.daemon_harness import docker, import_busybox, out, poll

pytestmark = pytest.mark.integration

# test -f is the check; its output tells a failing probe from a passing one
CHECK = "test -f /tmp/ok && echo fine || { echo missing; exit 1; }"


@pytest.fixture
def name(hakod, docker_cli):
    n = f"health-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    yield n
    docker(hakod, docker_cli, "rm", "-f", n)


def _run(d, cli, name, *flags, cmd=("sh", "-c", "touch /tmp/ok; exec sleep 1000")):
    return out(docker(d, cli, "run", "-d", "--name", name, *flags, "busybox", *cmd, check=True)).strip()


def _health(d, cli, name) -> dict:
    state = json.loads(out(docker(d, cli, "inspect", name, check=True)))[0]["State"]
    return state.get("Health") or {}


def _wait_status(d, cli, name, status, timeout=20.0) -> dict:
    def check():
        h = _health(d, cli, name)
        return h if h.get("Status") == status else None
    return poll(check, timeout=timeout, interval=0.05)


def _events(d, cli, name, since, *filters, fmt="{{.Action}}") -> list[str]:
    until = f"{time.time() + 0.5:.3f}"
    args = ["events", "--since", f"{since:.3f}", "--until", until, "--filter", f"container={name}"]
    for f in filters:
        args += ["--filter", f]
    res = docker(d, cli, *args, "--format", fmt, check=True, timeout=30)
    return out(res).splitlines()


def test_unhealthy_after_retries_then_healthy_again(hakod, docker_cli, name):
    since = time.time() - 1
    cid = _run(hakod, docker_cli, name, "--health-cmd", CHECK, "--health-interval", "200ms",
               "--health-retries", "3")
    h = _wait_status(hakod, docker_cli, name, "healthy")
    assert h["FailingStreak"] == 0
    assert h["Log"][-1]["ExitCode"] == 0 and h["Log"][-1]["Output"] == "fine\n"
    ps = out(docker(hakod, docker_cli, "ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True))
    assert ps.strip().endswith("(healthy)"), ps
    listed = out(docker(hakod, docker_cli, "ps", "-q", "--no-trunc", "--filter", "health=healthy", check=True))
    assert cid in listed.split()
    assert cid not in out(docker(hakod, docker_cli, "ps", "-q", "--no-trunc", "--filter",
                                 "health=unhealthy", check=True)).split()

    docker(hakod, docker_cli, "exec", name, "rm", "/tmp/ok", check=True)
    h = _wait_status(hakod, docker_cli, name, "unhealthy")
    assert h["FailingStreak"] >= 3
    assert [e["ExitCode"] for e in h["Log"][-3:]] == [1, 1, 1]
    assert h["Log"][-1]["Output"] == "missing\n"
    assert len(h["Log"]) <= 5
    ps = out(docker(hakod, docker_cli, "ps", "--filter", "health=unhealthy", "--format", "{{.Names}} {{.Status}}",
                    check=True))
    assert f"{name} Up" in ps and "(unhealthy)" in ps

    docker(hakod, docker_cli, "exec", name, "touch", "/tmp/ok", check=True)
    _wait_status(hakod, docker_cli, name, "healthy")

    assert _events(hakod, docker_cli, name, since, "event=health_status") == [
        "health_status: healthy", "health_status: unhealthy", "health_status: healthy"]
    # exactly `retries` failed probes between the last success and the unhealthy event
    seq = _events(hakod, docker_cli, name, since, "event=exec_die", "event=health_status",
                  fmt="{{.Action}}|{{index .Actor.Attributes \"exitCode\"}}")
    seq = [line if line.startswith("exec_die") else line.split("|")[0] for line in seq]
    first_bad = seq.index("health_status: unhealthy")
    before = [e for e in seq[:first_bad] if e.startswith("exec_die")]
    assert before[-3:] == ["exec_die|1"] * 3 and before[-4] == "exec_die|0", seq
    # each probe is an exec with Docker's events, never an exec instance of the API
    actions = _events(hakod, docker_cli, name, since, "event=exec_create")
    assert actions and all(a == f"exec_create: /bin/sh -c {CHECK}" for a in actions)
    inspect = json.loads(out(docker(hakod, docker_cli, "inspect", name, check=True)))[0]
    assert inspect["ExecIDs"] is None
    assert inspect["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", CHECK], "Interval": 200_000_000,
                                                "Retries": 3}


def test_timeout_gives_minus_one_at_once(hakod, docker_cli, name):
    _run(hakod, docker_cli, name, "--health-cmd", "echo partial; sleep 5", "--health-timeout", "300ms",
         "--health-interval", "100ms", "--health-retries", "2")
    h = _wait_status(hakod, docker_cli, name, "unhealthy")
    entry = h["Log"][-1]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (300ms): partial\n"
    # killed and reported at the timeout, not when its orphaned sleep lets the pipe go
    assert parse_time(entry["End"]) - parse_time(entry["Start"]) < 2.0


def test_probe_sessions_are_forgotten(hakod, docker_cli, name):
    cid = _run(hakod, docker_cli, name, "--health-cmd", "true", "--health-interval", "50ms")
    poll(lambda: len(_health(hakod, docker_cli, name).get("Log", [])) == 5, timeout=20)
    execs = os.path.join(hakod.exec_root, "containers", cid, "execs")
    # the shim drops each probe's session once it is over: at most the running one is left
    poll(lambda: len(os.listdir(execs)) <= 1, timeout=10)


def test_starting_status_ps_text_and_filter(hakod, docker_cli, name):
    cid = _run(hakod, docker_cli, name, "--health-cmd", "true", "--health-interval", "1h")
    assert _health(hakod, docker_cli, name) == {"Status": "starting", "FailingStreak": 0, "Log": []}
    ps = out(docker(hakod, docker_cli, "ps", "--filter", f"name={name}", "--format", "{{.Status}}", check=True))
    assert ps.strip().endswith("(health: starting)"), ps
    starting = out(docker(hakod, docker_cli, "ps", "-q", "--no-trunc", "--filter", "health=starting", check=True))
    assert cid in starting.split()
    res = docker(hakod, docker_cli, "ps", "--filter", "health=sick")
    assert res.returncode != 0
    assert "Unrecognised filter value for health: sick" in res.stderr.decode()


def test_no_probe_means_no_health_and_filter_none(hakod, docker_cli, name):
    cid = _run(hakod, docker_cli, name, "--no-healthcheck")
    assert _health(hakod, docker_cli, name) == {}
    assert cid in out(docker(hakod, docker_cli, "ps", "-q", "--no-trunc", "--filter", "health=none",
                             check=True)).split()


def test_pause_stops_probing_and_restart_starts_over(hakod, docker_cli, name):
    since = time.time() - 1
    _run(hakod, docker_cli, name, "--health-cmd", "true", "--health-interval", "200ms")
    _wait_status(hakod, docker_cli, name, "healthy")
    docker(hakod, docker_cli, "pause", name, check=True)
    frozen = _health(hakod, docker_cli, name)
    time.sleep(1.0)  # a measurement window: a monitor still running would probe 5 times
    assert _health(hakod, docker_cli, name)["Log"] == frozen["Log"]
    docker(hakod, docker_cli, "unpause", name, check=True)
    last = parse_time(frozen["Log"][-1]["Start"])
    poll(lambda: parse_time(_health(hakod, docker_cli, name)["Log"][-1]["Start"]) > last, timeout=10)

    docker(hakod, docker_cli, "stop", "-t", "0", name, check=True)
    stopped = _health(hakod, docker_cli, name)
    assert stopped["Status"] == "healthy"  # kept after the exit, as Docker
    time.sleep(0.6)  # no probes of a stopped container
    assert _health(hakod, docker_cli, name)["Log"] == stopped["Log"]
    docker(hakod, docker_cli, "start", name, check=True)
    _wait_status(hakod, docker_cli, name, "healthy")
    # the restart reset it to starting, so it became healthy (an event) once more
    assert _events(hakod, docker_cli, name, since, "event=health_status") == [
        "health_status: healthy", "health_status: healthy"]


def test_create_time_validation(hakod, docker_cli):
    status, body = hakod.api("POST", "/containers/create", {
        "Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], "Interval": 500_000}})
    assert status == 400 and body["message"] == "Interval in Healthcheck cannot be less than 1ms"
    status, body = hakod.api("POST", "/containers/create", {
        "Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}})
    assert status == 400 and body["message"] == "Retries in Healthcheck cannot be negative"
    res = docker(hakod, docker_cli, "run", "--rm", "--no-healthcheck", "--health-cmd", "true", "busybox", "true")
    assert res.returncode == 125
    assert "--no-healthcheck conflicts with --health-* options" in res.stderr.decode()


def test_hako_cli_health_flags_and_ps(hakod, docker_cli, name):
    env = dict(hakod.env)
    cli = [sys.executable, "-m", "hako.cli"]
    res = subprocess.run([*cli, "run", "-d", "--name", name, "--health-cmd", "true", "--health-interval",
                          "200ms", "busybox", "sleep", "1000"], capture_output=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    _wait_status(hakod, docker_cli, name, "healthy")
    ps = subprocess.run([*cli, "ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}"],
                        capture_output=True, env=env, timeout=60)
    assert f"{name} Up" in ps.stdout.decode() and "(healthy)" in ps.stdout.decode(), ps.stderr
    res = subprocess.run([*cli, "run", "--health-start-interval", "1s", "busybox", "true"],
                         capture_output=True, env=env, timeout=60)
    assert res.returncode == 1
    assert res.stderr.decode().strip() == ('"--health-start-interval" requires API version 1.44, '
                                           "but the Docker daemon API version is 1.41")


def test_health_log_survives_a_daemon_kill(fresh_hakod, docker_cli):
    d = fresh_hakod()
    d.start()
    import_busybox(d)
    name = "survivor"
    _run(d, docker_cli, name, "--health-cmd", "true", "--health-interval", "300ms")
    poll(lambda: len(_health(d, docker_cli, name).get("Log", [])) >= 2, timeout=20)
    before = _health(d, docker_cli, name)
    d.kill9()
    restarted = time.time()
    d.start()
    after = _health(d, docker_cli, name)
    assert after["Log"][:2] == before["Log"][:2]  # written atomically with the record
    # the monitor resumes (moby's restore: starting again, then the next probe decides)
    assert after["Status"] in ("starting", "healthy")
    h = _wait_status(d, docker_cli, name, "healthy")
    poll(lambda: parse_time(_health(d, docker_cli, name)["Log"][-1]["Start"]) > restarted, timeout=10)
    assert h["FailingStreak"] == 0
    docker(d, docker_cli, "rm", "-f", name, check=True)


def test_image_healthcheck_runs_and_flags_override_it(hakod, docker_cli, name, tmp_path):
    tag = f"healthy-{uuid.uuid4().hex[:6]}"
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=200ms --retries=1 CMD test -f /tmp/ok\n")
    docker(hakod, docker_cli, "build", "-q", "-t", tag, str(tmp_path), check=True, timeout=120)
    try:
        docker(hakod, docker_cli, "run", "-d", "--name", name, tag, "sleep", "1000", check=True)
        _wait_status(hakod, docker_cli, name, "unhealthy")  # no /tmp/ok: the image's check runs
        docker(hakod, docker_cli, "rm", "-f", name, check=True)
        # a flag replaces one field; the image fills the others (moby's merge)
        docker(hakod, docker_cli, "run", "-d", "--name", name, "--health-retries", "1000", tag,
               "sleep", "1000", check=True)
        config = json.loads(out(docker(hakod, docker_cli, "inspect", name, check=True)))[0]["Config"]
        assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "test -f /tmp/ok"], "Interval": 200_000_000,
                                         "Retries": 1000}
        poll(lambda: _health(hakod, docker_cli, name).get("FailingStreak", 0) >= 2, timeout=20)
        assert _health(hakod, docker_cli, name)["Status"] == "starting"  # 1000 retries to go
    finally:
        docker(hakod, docker_cli, "rm", "-f", name)
        docker(hakod, docker_cli, "rmi", tag)


def test_start_interval_is_dropped_below_api_1_44(hakod, name):
    status, body = hakod.api("POST", f"/v1.41/containers/create?name={name}", {
        "Image": "busybox", "Cmd": ["true"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000, "StartInterval": 2_000_000_000}})
    assert status == 201, body
    status, info = hakod.api("GET", f"/containers/{name}/json")
    assert info["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 1_000_000_000}
