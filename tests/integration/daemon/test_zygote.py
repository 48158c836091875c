"""The shim zygote (hako/runtime/zygote.py, hako/daemon/shimzygote.py), black-box through the
docker CLI: shims are forked by it, survive a hakod SIGKILL and are re-adopted; a killed
zygote is noticed and replaced, and containers start with and without it."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.daemon_harness import docker, import_busybox, poll

pytestmark = pytest.mark.integration

# the zygote forks hako's Python shim: under HAKO_TEST_SHIM=conmon these daemons still run it
PYTHON_SHIM = ("--shim", "hako")


def zygote_record(d) -> dict:
    with open(os.path.join(d.exec_root, "zygote.json")) as f:
        return json.load(f)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def shim_pid(d, ctr: str) -> int:
    status, info = d.api("GET", f"/containers/{ctr}/json")
    assert status == 200, info
    with open(os.path.join(d.exec_root, "containers", info["Id"], "shim.json")) as f:
        return json.load(f)["shim_pid"]


def forked_by_zygote(pid: int, zygote_pid: int) -> bool:
    """A process forked from the zygote runs the zygote's command line (no exec happened)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f, open(f"/proc/{zygote_pid}/cmdline", "rb") as z:
        return f.read() == z.read()


def test_zygote_forked_shim_survives_sigkill_and_is_readopted(fresh_hakod, docker_cli):
    d = fresh_hakod("hako", PYTHON_SHIM).start()
    import_busybox(d)
    zyg = zygote_record(d)["pid"]
    assert alive(zyg)
    ctr = docker(d, docker_cli, "run", "-d", "--name", "zyg-keeps", "busybox", "sh", "-c",
                 "echo hello-from-zygote; trap 'exit 7' TERM; while true; do sleep 0.05; done",
                 check=True).stdout.decode().strip()
    shim = shim_pid(d, ctr)
    assert forked_by_zygote(shim, zyg), "the shim was exec'd, not forked by the zygote"
    assert docker(d, docker_cli, "run", "--rm", "busybox", "echo", "ok",
                  check=True).stdout.decode().strip() == "ok"

    d.kill9()
    poll(lambda: not alive(zyg))  # the zygote follows its daemon
    assert alive(shim)
    d.start()
    new_zyg = zygote_record(d)["pid"]
    assert new_zyg != zyg and alive(new_zyg)
    out = docker(d, docker_cli, "ps", "--format", "{{.ID}} {{.Names}} {{.Status}}",
                 check=True).stdout.decode()
    assert "zyg-keeps Up" in out
    assert "hello-from-zygote" in docker(d, docker_cli, "logs", ctr, check=True).stdout.decode()
    docker(d, docker_cli, "stop", "-t", "5", ctr, check=True)
    status, info = d.api("GET", f"/containers/{ctr}/json")
    assert (info["State"]["Status"], info["State"]["ExitCode"]) == ("exited", 7)
    poll(lambda: not alive(shim))


def test_killed_zygote_is_restarted_and_starts_never_fail(fresh_hakod, docker_cli):
    d = fresh_hakod("hako", PYTHON_SHIM).start()
    import_busybox(d)
    first = zygote_record(d)
    os.kill(first["pid"], signal.SIGKILL)
    # a start right after the kill: the zygote is gone or being replaced; exec path or new zygote
    assert docker(d, docker_cli, "run", "--rm", "busybox", "echo", "during",
                  check=True).stdout.decode().strip() == "during"
    poll(lambda: zygote_record(d)["pid"] != first["pid"] and alive(zygote_record(d)["pid"]))
    second = zygote_record(d)["pid"]
    assert "shim zygote %d exited" % first["pid"] in d.read_log()
    ctr = docker(d, docker_cli, "run", "-d", "busybox", "sleep", "100", check=True).stdout.decode().strip()
    assert forked_by_zygote(shim_pid(d, ctr), second)
    assert docker(d, docker_cli, "exec", ctr, "echo", "in", check=True).stdout.decode().strip() == "in"
    docker(d, docker_cli, "rm", "-f", ctr, check=True)


def test_stopped_daemon_leaves_no_zygote(fresh_hakod):
    d = fresh_hakod("hako", PYTHON_SHIM).start()
    pid = zygote_record(d)["pid"]
    d.stop()
    poll(lambda: not alive(pid))
    assert not os.path.exists(os.path.join(d.exec_root, "zygote.sock"))
