"""The exit is reported from the shim's wait reply, before the runtime's delete.

The daemon records a container's exit (status, exit code, ``die``, ``docker wait``) as soon
as the shim answers its ``wait`` request, and only finishes the run (unmount, network
release, restart policy, ``--rm`` removal, a new start or ``rm``) once the shim has exited,
i.e. after ``runtime delete``. A runtime wrapper whose ``delete`` waits for a gate file makes
that window as long as the test needs: with the gate closed, ``docker wait`` must already
have the code, and no start, restart or removal of the same id may go ahead; once the gate
opens, everything completes and nothing is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.daemon_harness import docker, import_busybox, out, poll, shim_pid

pytestmark = pytest.mark.integration

_GATED = """#!/bin/sh
# hako-runtime, but `delete` first waits for the gate file (a slow runtime delete); each
# call is logged, and the end of a delete says whether the bundle was still there
for last; do :; done
echo "$*" >> {log}
case " $* " in
  *" delete "*)
    while [ ! -e {gate} ]; do sleep 0.02; done
    {real} "$@"; rc=$?
    if [ -d {bundles}/"$last" ]; then echo "deleted $last bundle=yes" >> {log}; else echo "deleted $last bundle=no" >> {log}; fi
    exit $rc;;
esac
exec {real} "$@"
"""


@pytest.fixture
def gated(fresh_hakod, tmp_path):
    """A daemon with the ``gated`` runtime; yields (daemon, gate path, log path)."""
    gate, log = tmp_path / "gate", tmp_path / "calls.log"
    log.write_text("")
    script = tmp_path / "gated-runtime"
    d = fresh_hakod()
    real = os.path.join(os.path.dirname(sys.executable), "hako-runtime")
    script.write_text(_GATED.format(log=log, gate=gate, real=real,
                                    bundles=os.path.join(d.exec_root, "containers")))
    script.chmod(0o755)
    d.extra_args = ("--add-runtime", f"gated={script}")
    d.start()
    import_busybox(d)
    try:
        yield d, gate, log
    finally:
        gate.touch()  # never leave a shim blocked behind a failed test


def calls(log, verb: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f" {verb} " in f" {line} "]


def inspect_state(d, cid: str) -> dict:
    status, info = d.api("GET", f"/containers/{cid}/json")
    assert status == 200, info
    return info["State"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_no_leftovers(d, cid: str) -> None:
    assert not os.path.exists(os.path.join(d.exec_root, "containers", cid)), "bundle left"
    assert not os.path.exists(os.path.join(d.exec_root, "runtime", cid)), "runtime state left"
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read(), "a mount of the container is left"
    for ctl in ("memory", "pids", "cpu,cpuacct"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctl}{d.cgroup_parent}/{cid}"), f"{ctl} cgroup left"


def test_wait_answers_before_delete_and_rm_waits_for_it(gated, docker_cli):
    d, gate, log = gated
    cid = out(docker(d, docker_cli, "run", "-d", "--runtime", "gated", "busybox", "sh", "-c", "exit 3",
                     check=True)).strip()
    # the shim is held in `runtime delete`: wait must answer anyway (before: it hung here)
    res = docker(d, docker_cli, "wait", cid, timeout=20, check=True)
    assert out(res).strip() == "3"
    assert calls(log, "delete") and alive(shim_pid(d.exec_root, cid))
    st = inspect_state(d, cid)
    assert (st["Status"], st["ExitCode"], st["Running"]) == ("exited", 3, False)
    rm = subprocess.Popen([docker_cli, "rm", cid], env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):  # the removal waits for the delete
            rm.wait(timeout=1.0)
    finally:
        gate.touch()
    _, err = rm.communicate(timeout=30)
    assert rm.returncode == 0, err
    assert f"deleted {cid} bundle=yes" in log.read_text().splitlines()  # rm came after it
    assert_no_leftovers(d, cid)


def test_start_again_waits_for_the_delete(gated, docker_cli):
    d, gate, log = gated
    cid = out(docker(d, docker_cli, "run", "-d", "--runtime", "gated", "busybox", "sh", "-c", "exit 4",
                     check=True)).strip()
    assert out(docker(d, docker_cli, "wait", cid, timeout=20, check=True)).strip() == "4"
    start = subprocess.Popen([docker_cli, "start", cid], env=d.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            start.wait(timeout=1.0)
        assert len(calls(log, "create")) == 1  # no second create beside the pending delete
    finally:
        gate.touch()
    _, err = start.communicate(timeout=30)
    assert start.returncode == 0, err
    assert out(docker(d, docker_cli, "wait", cid, timeout=20, check=True)).strip() == "4"
    assert len(calls(log, "create")) == 2
    docker(d, docker_cli, "rm", cid, check=True)
    assert_no_leftovers(d, cid)


def test_restart_policy_waits_for_the_delete(gated, docker_cli):
    d, gate, log = gated
    cid = out(docker(d, docker_cli, "run", "-d", "--runtime", "gated", "--restart", "on-failure:1",
                     "busybox", "sh", "-c", "exit 3", check=True)).strip()
    poll(lambda: calls(log, "delete"), timeout=20)
    st = poll(lambda: (s := inspect_state(d, cid))["Status"] == "restarting" and s, timeout=20)
    assert st["ExitCode"] == 3
    assert len(calls(log, "create")) == 1  # the policy's start waits for the shim to be gone
    gate.touch()
    st = poll(lambda: (s := inspect_state(d, cid))["Status"] == "exited"
              and len(calls(log, "create")) == 2 and s, timeout=30)
    assert st["ExitCode"] == 3
    status, info = d.api("GET", f"/containers/{cid}/json")
    assert info["RestartCount"] == 1
    docker(d, docker_cli, "rm", cid, check=True)
    assert_no_leftovers(d, cid)


def test_auto_remove_after_the_delete(gated, docker_cli):
    d, gate, log = gated
    cid = out(docker(d, docker_cli, "run", "-d", "--rm", "--runtime", "gated", "busybox", "sh", "-c",
                     "exit 5", check=True)).strip()
    assert out(docker(d, docker_cli, "wait", cid, timeout=20, check=True)).strip() == "5"
    assert cid in out(docker(d, docker_cli, "ps", "-aq", "--no-trunc", check=True))  # not removed yet
    # the foreground form: the CLI waits for the removal, and still gets the exit code
    run = subprocess.Popen([docker_cli, "run", "--rm", "--runtime", "gated", "busybox", "sh", "-c", "exit 6"],
                           env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        poll(lambda: len(calls(log, "delete")) >= 2, timeout=20)
    finally:
        gate.touch()
    _, err = run.communicate(timeout=30)
    assert run.returncode == 6, err
    poll(lambda: not out(docker(d, docker_cli, "ps", "-aq", check=True)).strip(), timeout=20)
    assert f"deleted {cid} bundle=yes" in log.read_text().splitlines()
    assert_no_leftovers(d, cid)


def test_stop_answers_once_the_ports_are_released(gated, docker_cli):
    """docker-compose's recreate stops the old container and at once starts the new one on
    the same host port: stop answers only once the run is finished (its ports released)."""
    import socket

    d, gate, log = gated
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    publish = f"127.0.0.1:{port}:80"
    old = out(docker(d, docker_cli, "run", "-d", "--runtime", "gated", "-p", publish, "busybox",
                     "sleep", "1000", check=True)).strip()
    stop = subprocess.Popen([docker_cli, "stop", "-t", "0", old], env=d.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        poll(lambda: calls(log, "delete"), timeout=20)
        with pytest.raises(subprocess.TimeoutExpired):  # the delete, and so the release, is pending
            stop.wait(timeout=1.0)
    finally:
        gate.touch()
    _, err = stop.communicate(timeout=30)
    assert stop.returncode == 0, err
    new = docker(d, docker_cli, "run", "-d", "-p", publish, "busybox", "sleep", "1000")
    assert new.returncode == 0, new.stderr  # before: "port is already allocated"
    docker(d, docker_cli, "rm", "-f", old, out(new).strip(), check=True)
