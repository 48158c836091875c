"""hakod under process managers: systemd's socket activation (``-H fd://``) and readiness
protocol (``Type=notify``: READY, STOPPING, WATCHDOG), played here by the test itself with a
listening socket and a notify socket, as systemd would hand them over; then supervisord and
runit (Debian's packages) each start hakod, see it answer, and stop it cleanly. The seed's
``-r=false`` is accepted with a deprecation warning."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time

import pytest

from tests.daemon_harness import docker, import_busybox, out, poll

pytestmark = pytest.mark.integration


_ACTIVATE = ("import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd); "
             "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
             "os.execv(sys.argv[2], sys.argv[2:])")


def _activated(fd: int, argv: list[str]) -> list[str]:
    """``argv`` exec'd with ``fd`` as its descriptor 3 and systemd's LISTEN_* variables set."""
    return [sys.executable, "-c", _ACTIVATE, str(fd), *argv]


def _datagrams(sock: socket.socket, want: str, timeout: float = 20.0) -> list[str]:
    """Notifications received until one has the line ``want``."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            raise AssertionError(f"no {want!r} before the deadline; got {got}") from None
        if want in got[-1].splitlines():
            return got


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


def test_socket_activation_and_notify(fresh_hakod, docker_cli, tmp_path):
    d = fresh_hakod()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(d.socket)
    listener.listen(64)
    inode = os.stat(d.socket).st_ino
    notify_path = str(tmp_path / "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    fd = listener.fileno()
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="200000")
    try:
        d.start(args=_activated(fd, d.argv("fd://")), env=env, pass_fds=(fd,))
        got = _datagrams(notify, "READY=1")
        assert f"MAINPID={d.proc.pid}" in got[-1].splitlines()
        import_busybox(d)
        assert out(docker(d, docker_cli, "version", "--format", "{{.Server.Os}}", check=True)).strip() == "linux"
        # the manager's variables stay with hakod: a container (and its shim) never sees them
        env_out = out(docker(d, docker_cli, "run", "--rm", "busybox", "env", check=True))
        assert "NOTIFY_SOCKET" not in env_out and "LISTEN_FDS" not in env_out
        assert _datagrams(notify, "WATCHDOG=1")  # pinged every WATCHDOG_USEC/2 from the loop
        assert _datagrams(notify, "WATCHDOG=1")
        _drain(notify)  # as systemd, which reads all the time: room for STOPPING=1
        d.stop()
        assert d.proc.returncode == 0, d.read_log()
        assert "STOPPING=1" in "\n".join(_datagrams(notify, "STOPPING=1"))
        # the socket is the manager's: hakod neither replaced nor removed it, and it still listens
        assert os.stat(d.socket).st_ino == inode
        socket.socket(socket.AF_UNIX).connect(d.socket)
    finally:
        listener.close()
        notify.close()


@pytest.mark.parametrize("listen,activated,message", [
    ("fd://", False, "no sockets found via socket activation: make sure the service was started by systemd"),
    ("fd://x", True, "failed to parse systemd fd address: should be a number: x"),
    ("fd://4", True, "too few socket activated files passed in by systemd"),
])
def test_bad_fd_addresses(fresh_hakod, listen, activated, message):
    d = fresh_hakod()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(d.socket)
    listener.listen(1)
    fd = listener.fileno()
    argv = _activated(fd, d.argv(listen)) if activated else d.argv(listen)
    try:
        res = subprocess.run(argv, pass_fds=(fd,), capture_output=True, text=True, timeout=60)
    finally:
        listener.close()
    assert res.returncode == 1 and message in res.stderr, res.stderr
    assert subprocess.run(["ip", "link", "show", d.bridge], capture_output=True).returncode != 0  # nothing made


def test_seed_restart_flag(fresh_hakod):
    d = fresh_hakod()
    d.extra_args = ("-r=false",)
    d.start()
    assert "Flag -r/--restart is deprecated" in d.read_log()
    d.stop()
    res = subprocess.run(d.argv() + ["-r=true"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "give containers a restart policy instead" in res.stderr


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def _hakod_pid(d) -> int:
    status, info = d.api("GET", "/info")
    assert status == 200
    cred = socket.socket(socket.AF_UNIX)
    cred.connect(d.socket)
    pid = int.from_bytes(cred.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)[:4], "little")
    cred.close()
    return pid


def test_under_supervisord(fresh_hakod, docker_cli, tmp_path):
    if shutil.which("supervisord") is None:
        pytest.skip("supervisord is not installed (make install adds Debian's supervisor)")
    d = fresh_hakod()
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"""[unix_http_server]
file={tmp_path}/supervisor.sock
[supervisord]
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid
childlogdir={tmp_path}
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{tmp_path}/supervisor.sock
[program:hakod]
command={shlex.join(d.argv())}
stopsignal=TERM
stopwaitsecs=30
redirect_stderr=true
stdout_logfile={d.log_path}
""")
    d.start(timeout=60, args=["supervisord", "-n", "-c", str(conf)])
    pid = _hakod_pid(d)
    assert pid != d.proc.pid  # hakod is supervisord's child, in the foreground
    import_busybox(d)
    assert out(docker(d, docker_cli, "run", "--rm", "busybox", "echo", "supervised", check=True)) == "supervised\n"
    ctl = subprocess.run(["supervisorctl", "-c", str(conf), "stop", "hakod"], capture_output=True,
                         text=True, timeout=60)
    assert "hakod: stopped" in ctl.stdout, ctl.stdout + ctl.stderr
    assert _gone(pid) and not os.path.exists(d.socket)  # a clean exit removes its socket
    status = subprocess.run(["supervisorctl", "-c", str(conf), "status", "hakod"], capture_output=True,
                            text=True, timeout=30)
    assert "STOPPED" in status.stdout


def test_under_runit(fresh_hakod, docker_cli, tmp_path):
    if shutil.which("runsv") is None:
        pytest.skip("runit is not installed (make install adds Debian's runit)")
    d = fresh_hakod()
    service = tmp_path / "hakod"
    service.mkdir()
    run = service / "run"
    run.write_text(f"#!/bin/sh\nexec 2>&1\nexec {shlex.join(d.argv())}\n")
    run.chmod(0o755)
    d.start(timeout=60, args=["runsv", str(service)])
    pid = _hakod_pid(d)
    import_busybox(d)
    assert out(docker(d, docker_cli, "run", "--rm", "busybox", "echo", "under runit", check=True)) == "under runit\n"
    res = subprocess.run(["sv", "-w", "30", "stop", str(service)], capture_output=True, text=True, timeout=60)
    assert res.stdout.startswith("ok: down:"), res.stdout + res.stderr
    assert _gone(pid) and not os.path.exists(d.socket)
    subprocess.run(["sv", "exit", str(service)], capture_output=True, timeout=30)
    d.proc.wait(30)


def test_contrib_units_verify(tmp_path):
    """contrib/hakod.{service,socket} pass `systemd-analyze verify` (with ExecStart pointed at
    this checkout's hakod), and say what the activation test above exercises."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    service = open(os.path.join(repo, "contrib", "hakod.service")).read()
    socket_unit = open(os.path.join(repo, "contrib", "hakod.socket")).read()
    hakod = os.path.join(os.path.dirname(sys.executable), "hakod")
    (tmp_path / "hakod.service").write_text(service.replace("/usr/local/bin/hakod", hakod))
    (tmp_path / "hakod.socket").write_text(socket_unit)
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", "./hakod.socket", "./hakod.service"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout + res.stderr
    lines = {line.strip() for line in service.splitlines()}
    assert {"Type=notify", "ExecStart=/usr/local/bin/hakod -H fd://", "KillMode=process",
            "Requires=hakod.socket"} <= lines
    assert "ListenStream=/run/hako/hako.sock" in socket_unit


def _state(d, cli, name):
    return out(docker(d, cli, "inspect", "-f", "{{.State.Status}} {{.State.Running}}", name)).strip()


@pytest.mark.parametrize("live", [False, True])
def test_live_restore(fresh_hakod, docker_cli, live):
    """Without --live-restore a graceful stop of hakod stops its containers, and policy
    containers the user did not stop start again with it; with it they keep running."""
    d = fresh_hakod()
    d.extra_args = ("--live-restore",) if live else ("--shutdown-timeout", "20")
    d.start()
    import_busybox(d)
    assert out(docker(d, docker_cli, "info", "-f", "{{.LiveRestoreEnabled}}", check=True)).strip() == \
        str(live).lower()
    loop = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    docker(d, docker_cli, "run", "-d", "--name", "plain", "busybox", *loop, check=True)
    docker(d, docker_cli, "run", "-d", "--name", "always", "--restart", "always", "busybox", *loop, check=True)
    docker(d, docker_cli, "run", "-d", "--name", "stopped", "--restart", "always", "busybox", *loop, check=True)
    docker(d, docker_cli, "stop", "stopped", check=True)  # the user's stop: never restarted
    pids = {n: out(docker(d, docker_cli, "inspect", "-f", "{{.State.Pid}}", n, check=True)).strip()
            for n in ("plain", "always")}
    d.stop()
    assert d.proc.returncode == 0, d.read_log()
    for n, pid in pids.items():  # the containers' processes, seen from the host
        alive = os.path.exists(f"/proc/{pid}")
        assert alive == live, (n, pid)
    d.start()
    if live:
        assert _state(d, docker_cli, "plain") == "running true"
    else:
        assert _state(d, docker_cli, "plain").startswith("exited")
    poll(lambda: _state(d, docker_cli, "always") == "running true")
    assert _state(d, docker_cli, "stopped").startswith("exited")
    docker(d, docker_cli, "rm", "-f", "plain", "always", "stopped", check=True)
