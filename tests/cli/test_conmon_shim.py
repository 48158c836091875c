"""hakod --shim conmon through the docker CLI: conmon monitors the container (its process is
conmon), survives a hakod SIGKILL and is re-adopted; what conmon cannot do is refused.

The rest of the container suite runs with conmon too: ``HAKO_TEST_SHIM=conmon`` makes the
harness start every daemon with ``--shim conmon`` (``make test-conmon``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from tests.daemon_harness import docker, import_busybox, poll

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not shutil.which("conmon"), reason="conmon is not installed")]


def _state(d, ref) -> dict:
    status, info = d.api("GET", f"/containers/{ref}/json")
    assert status == 200, info
    return info["State"]


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _conmon_of(d, cid: str) -> int:
    with open(os.path.join(d.exec_root, "containers", cid, "conmon.pid")) as f:
        return int(f.read().strip())


@pytest.mark.parametrize("runtime", ["hako", "runc"])
def test_conmon_container_survives_hakod_sigkill_and_is_readopted(fresh_hakod, docker_cli, runtime):
    d = fresh_hakod(runtime, ("--shim", "conmon")).start()
    import_busybox(d)
    cli = docker_cli
    loop = "echo before; trap 'exit 42' TERM; trap 'echo while-down' USR1; while true; do sleep 0.05; done"
    cid = docker(d, cli, "run", "-d", "--name", "cm-keep", "busybox", "sh", "-c", loop,
                 check=True).stdout.decode().strip()
    dies = docker(d, cli, "run", "-d", "--name", "cm-dies", "busybox", "sh", "-c", loop,
                  check=True).stdout.decode().strip()
    poll(lambda: b"before" in docker(d, cli, "logs", cid).stdout)
    monitor = _conmon_of(d, cid)
    assert _comm(monitor) == "conmon" and _state(d, cid)["Pid"] != monitor
    pid, dies_pid = _state(d, cid)["Pid"], _state(d, dies)["Pid"]

    d.kill9()
    os.kill(pid, signal.SIGUSR1)  # conmon keeps logging while hakod is down
    os.kill(dies_pid, signal.SIGTERM)  # exits 42 with nobody but conmon watching
    poll(lambda: not _alive(dies_pid))
    assert _alive(pid) and _alive(monitor)
    d.start()

    assert (_state(d, cid)["Status"], _state(d, cid)["Pid"]) == ("running", pid)
    gone = _state(d, dies)
    assert (gone["Status"], gone["ExitCode"]) == ("exited", 42)
    poll(lambda: b"while-down" in docker(d, cli, "logs", cid).stdout)
    assert docker(d, cli, "exec", cid, "echo", "exec-after", check=True).stdout == b"exec-after\n"
    waiter = subprocess.Popen([cli, "wait", cid], stdout=subprocess.PIPE, env=d.env)
    try:
        docker(d, cli, "kill", "-s", "TERM", cid, check=True)
        assert waiter.communicate(timeout=20)[0].decode().strip() == "42"
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    poll(lambda: not _alive(monitor))  # conmon ran the runtime's delete and exited
    docker(d, cli, "start", dies, check=True)  # the runtime forgot it: same id creates again
    assert _state(d, dies)["Running"] is True
    docker(d, cli, "rm", "-f", cid, dies, check=True)


def test_conmon_refuses_log_options_it_cannot_honour(fresh_hakod, docker_cli):
    d = fresh_hakod("hako", ("--shim", "conmon")).start()
    import_busybox(d)
    res = docker(d, docker_cli, "run", "--rm", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
                 "busybox", "true")
    assert res.returncode == 125
    assert b"the conmon shim keeps one log file: log-opt max-file=3 is not supported" in res.stderr
    res = docker(d, docker_cli, "run", "--rm", "--label", "a=1", "--log-opt", "labels=a", "busybox", "true")
    assert res.returncode == 125 and b"log-opt labels, env and tag are not supported" in res.stderr
    # max-size with one file is conmon's own truncation: accepted, and logs read back
    out = docker(d, docker_cli, "run", "--name", "cm-size", "--log-opt", "max-size=1m", "busybox",
                 "sh", "-c", "echo one; echo two >&2; printf three", check=True)
    assert out.stdout == b"one\nthree" and out.stderr == b"two\n"
    assert docker(d, docker_cli, "logs", "cm-size", check=True).stdout == b"one\nthree"


def test_hakod_refuses_an_unknown_shim(fresh_hakod):
    d = fresh_hakod("hako", ("--shim", "crio"))
    with pytest.raises(RuntimeError, match="invalid shim 'crio': expected one of hako, conmon"):
        d.start(timeout=10)


def test_a_conmon_hakod_runs_no_shim_zygote(fresh_hakod):
    """The zygote forks hako's Python shim: with conmon it would be an idle interpreter."""
    d = fresh_hakod("hako", ("--shim", "conmon")).start()
    children = subprocess.run(["ps", "-o", "args=", "--ppid", str(d.proc.pid)],
                              capture_output=True, text=True).stdout
    assert "zygote" not in children
    assert not os.path.exists(os.path.join(d.exec_root, "zygote.json"))
    assert "shim zygote" not in d.read_log()


def test_a_hakod_on_the_other_shim_readopts_conmon_containers(fresh_hakod, docker_cli):
    d = fresh_hakod("hako", ("--shim", "conmon")).start()
    import_busybox(d)
    cid = docker(d, docker_cli, "run", "-d", "busybox", "sleep", "1000", check=True).stdout.decode().strip()
    d.kill9()
    d.extra_args = ("--shim", "hako")
    d.start()
    assert _state(d, cid)["Status"] == "running"
    assert docker(d, docker_cli, "exec", cid, "echo", "hi", check=True).stdout == b"hi\n"
    docker(d, docker_cli, "stop", "-t", "1", cid, check=True)
    assert _state(d, cid)["ExitCode"] == 137
    # a new container gets hako's own shim
    new = docker(d, docker_cli, "run", "-d", "busybox", "sleep", "1000", check=True).stdout.decode().strip()
    assert not os.path.exists(os.path.join(d.exec_root, "containers", new, "conmon.json"))
    docker(d, docker_cli, "rm", "-f", cid, new, check=True)
