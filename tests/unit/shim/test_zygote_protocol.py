"""The shim zygote's protocol and fallback, the in-shim runtime's routing, the restart delay."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from hako.daemon.shimzygote import MAX_DELAY, MIN_DELAY, restart_delay
from hako.runtime import shim_inproc, shim_runtime, shim_wire, zygote

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BOOT = "import sys; from hako.runtime.zygote import main; sys.exit(main())"


@pytest.fixture
def real_zygote(tmp_path):
    """A zygote process on a socket in tmp_path, as hakod's Supervisor starts it."""
    path = str(tmp_path / "zygote.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    r, w = os.pipe()
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen([sys.executable, "-S", "-c", BOOT, str(listener.fileno())], stdin=r,
                            stdout=subprocess.DEVNULL, pass_fds=(listener.fileno(),), env=env)
    os.close(r)
    listener.close()
    yield path, proc, w
    if w_open(w):
        os.close(w)
    proc.wait(10)


def w_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_restart_delay_grows_while_the_zygote_dies_young_and_resets_after_a_long_life():
    assert restart_delay(0, 0.01) == MIN_DELAY
    assert restart_delay(MIN_DELAY, 0.01) == 2 * MIN_DELAY
    assert restart_delay(8.0, 1.0) == MAX_DELAY
    assert restart_delay(MAX_DELAY, 3600.0) == MIN_DELAY


def test_command_of_skips_the_global_flags():
    assert shim_inproc.command_of(["--root", "/r", "start", "x"]) == "start"
    assert shim_inproc.command_of(["--root=/r", "--debug", "--log", "f", "delete", "-f", "x"]) == "delete"
    assert shim_inproc.command_of(["--systemd-cgroup", "kill", "x", "9"]) == "kill"
    assert shim_inproc.command_of(["--root", "/r"]) == ""


def test_only_delete_runs_in_the_shims_own_process():
    assert shim_inproc.wants_in_process(["--root", "/r", "delete", "--force", "x"])
    for cmd in (["create", "--bundle", "b", "x"], ["start", "x"], ["kill", "x", "9"], ["exec", "-d", "x"]):
        assert not shim_inproc.wants_in_process(["--root", "/r", *cmd])


def test_own_runtime_calls_fork_or_run_in_process_with_the_cli_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(shim_runtime, "OWN_RUNTIME", "/nonexistent/own-hako-runtime")
    own = [shim_runtime.OWN_RUNTIME, "--root", str(tmp_path)]
    forked = shim_runtime.run(own + ["kill", "nosuch", "9"])  # no such binary: it was forked
    assert forked.rc == 1 and "does not exist" in forked.error()
    assert shim_runtime.run(own + ["delete", "--force", "nosuch"]).rc == 0
    assert shim_runtime.run(own + ["start", "nosuch"]).rc == 1

    def no_fork(*_):
        raise AssertionError("delete forked")

    monkeypatch.setattr(shim_inproc, "fork_call", no_fork)
    deleted = shim_runtime.run(own + ["delete", "nosuch"])  # in this process, stderr captured
    assert deleted.rc == 1 and "does not exist" in deleted.error()
    assert sys.stderr is not None and not hasattr(sys.stderr, "getvalue")


def test_forked_call_gets_the_stdio_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr(shim_runtime, "OWN_RUNTIME", "/nonexistent/own-hako-runtime")
    null = os.open(os.devnull, os.O_RDWR)
    r, w = os.pipe()
    try:
        call = shim_runtime.run([shim_runtime.OWN_RUNTIME, "--root", str(tmp_path), "list",
                                 "--format", "json"],
                                stdio=(null, w, null))
        os.close(w)
        assert call.rc == 0
        assert os.read(r, 4096).strip() == b"null"  # hako-runtime list of an empty root
    finally:
        os.close(null)
        os.close(r)


def test_no_zygote_means_the_exec_path(tmp_path, monkeypatch):
    monkeypatch.setattr(zygote, "_socket_path", None)
    assert zygote.spawn_shim(["create"], 5.0) is None
    assert zygote.spawn_shim(["create"], 5.0, path=str(tmp_path / "missing.sock")) is None


def test_a_zygote_that_closes_without_ack_means_the_exec_path(tmp_path):
    path = str(tmp_path / "z.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def close_after_request():
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.close()

    t = threading.Thread(target=close_after_request)
    t.start()
    try:
        assert zygote.spawn_shim(["create"], 5.0, path=path) is None
    finally:
        t.join()
        srv.close()


def test_real_zygote_answers_with_the_shims_report(real_zygote):
    path, proc, _ = real_zygote
    out = zygote.spawn_shim(["create", "--id", "x"], 30.0, path=path)
    report = shim_wire.loads(out.strip().splitlines()[-1])
    assert report["ok"] is False and "missing required flags" in report["error"]
    out = zygote.spawn_shim(["run", "--id", "x"], 30.0, path=path)
    assert shim_wire.loads(out.strip().splitlines()[-1]) == {
        "ok": False, "error": "not a shim command: run"}
    assert proc.poll() is None  # the zygote itself goes on serving
    # the children it forked are reaped by the kernel (the zygote ignores SIGCHLD)
    deadline = time.monotonic() + 10
    while _children(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _children(proc.pid) == []


def _children(pid: int) -> list[str]:
    """The pids (zombies included) whose parent is ``pid``."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        if name.isdigit() and int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(name)
    return found


def test_client_that_gives_up_before_go_makes_the_invoker_do_nothing(real_zygote, tmp_path):
    path, proc, _ = real_zygote
    marker = tmp_path / "state"
    with zygote_conn(path) as sock:
        sock.sendall(shim_wire.line({"argv": ["create", "--id", "x", "--bundle", str(tmp_path),
                                              "--state-dir", str(marker), "--runtime", "true",
                                              "--runtime-root", str(tmp_path), "--log-file", ""]}))
        invoker = shim_wire.loads(sock.recv(4096))["ack"]
    deadline = time.monotonic() + 10  # the invoker reads EOF instead of "go" and exits
    while os.path.exists(f"/proc/{invoker}") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{invoker}")
    out = zygote.spawn_shim(["create", "--id", "y"], 30.0, path=path)  # still serving
    assert b"missing required flags" in out
    assert not marker.exists()  # the shim that would have made the state dir never ran


def test_zygote_exits_when_its_daemon_pipe_closes(real_zygote):
    _, proc, w = real_zygote
    os.close(w)
    assert proc.wait(10) == 0


def zygote_conn(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(path)
    return sock


def test_shim_outlives_a_client_that_left_before_its_report(real_zygote, tmp_path):
    """hakod killed (or giving up) while a create runs: the report's write fails (EPIPE on
    the zygote's connection), and the shim of the created container must live on for a
    restarted hakod to find and stop, not exit and orphan the container's init."""
    path, proc, _ = real_zygote
    runtime = tmp_path / "slow-runtime"
    # create: wait, start a stand-in init, write its pid; anything else: succeed
    runtime.write_text("#!/bin/sh\n"
                       "[ \"$3\" = create ] || exit 0\n"
                       "sleep 0.5\n"
                       "sleep 60 </dev/null >/dev/null 2>&1 &\n"
                       "echo $! > \"$7\"\n")
    runtime.chmod(0o755)
    state = tmp_path / "state"
    with zygote_conn(path) as sock:
        sock.sendall(shim_wire.line({"argv": ["create", "--id", "left", "--bundle", str(tmp_path),
                                              "--state-dir", str(state), "--runtime", str(runtime),
                                              "--runtime-root", str(tmp_path), "--log-file", ""]}))
        shim_pid = shim_wire.loads(sock.recv(4096))["ack"]
        sock.sendall(b"go\n")
    init_pid = 0
    try:
        deadline = time.monotonic() + 10  # the runtime's create ran and the shim recorded it
        while not (state / "shim.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (state / "shim.json").exists()
        init_pid = int((state / "init.pid").read_text())
        # an answer on shim.sock comes only from a shim serving past its report's write
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as ctl:
            ctl.settimeout(10)
            ctl.connect(str(state / "shim.sock"))
            ctl.sendall(shim_wire.line({"op": "state"}))
            reply = shim_wire.loads(ctl.recv(65536))
        assert reply.get("pid") == init_pid, reply
    finally:
        for pid in (shim_pid, init_pid):
            if pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
