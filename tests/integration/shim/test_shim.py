"""The shim against a real runtime: output, logs, exit codes, stdin, tty, exec, restarts."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from hako.errors import RuntimeFailed
from hako.linux import proc as linux_proc
from hako.runtime import shim_wire, shimclient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

PROC = {"cwd": "/", "env": ["PATH=/bin", "TERM=xterm"], "user": {"uid": 0, "gid": 0}}


def read_all(sock: socket.socket, timeout: float = 20.0) -> list[tuple[int, bytes]]:
    """Read attach frames until the shim closes the connection."""
    sock.settimeout(timeout)
    buf = bytearray()
    while True:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    sock.close()
    frames = shim_wire.parse_frames(buf)
    assert not buf, "trailing partial frame"
    return frames


def joined(frames, stream: int | None = None) -> bytes:
    return b"".join(p for s, p in frames if stream is None or s == stream)


def wait_shim_exit(handle, timeout: float = 20.0) -> dict:
    """Wait on the shim's pidfd, then return exit.json."""
    try:
        fd = handle.pidfd()
    except ProcessLookupError:
        fd = None
    if fd is not None:
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, "shim did not exit in time"
        finally:
            os.close(fd)
    status = handle.exit_status()
    assert status is not None
    return status


def log_records(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_output_reaches_attach_and_log(env):
    h = env.spawn(["sh", "-c", "echo hello; echo oops >&2; printf tail"])
    sock = h.attach(stdin=False, stdout=True, stderr=True)
    h.start()
    frames = read_all(sock)
    assert joined(frames, 1) == b"hello\ntail"
    assert joined(frames, 2) == b"oops\n"
    status = wait_shim_exit(h)
    assert status["exit_code"] == 0 and status["oom_killed"] is False
    recs = log_records(env.log_file)
    assert [(r["stream"], r["log"]) for r in recs if r["stream"] == "stdout"] == [
        ("stdout", "hello\n"), ("stdout", "tail")]
    assert [r["log"] for r in recs if r["stream"] == "stderr"] == ["oops\n"]
    assert all(r["time"].endswith("Z") and len(r["time"]) == 30 for r in recs)


@pytest.mark.parametrize("args, code", [
    (["true"], 0),
    (["sh", "-c", "exit 3"], 3),
])
def test_exit_codes(env, args, code):
    h = env.spawn(args)
    h.start()
    assert wait_shim_exit(h)["exit_code"] == code


def test_kill_9_is_137_and_state(env):
    h = env.spawn(["sleep", "100"])
    assert h.state() == {"pid": h.pid, "status": "created", "exit_code": None}
    h.start()
    assert h.state()["status"] == "running"
    h.kill(signal.SIGKILL)
    assert h.wait(timeout=20)["exit_code"] == 137
    assert wait_shim_exit(h)["exit_code"] == 137


def test_stdin_round_trip_with_half_close(env):
    h = env.spawn(["cat"], stdin=True, stdin_once=True)
    sock = h.attach(stdin=True, stdout=True, stderr=True)
    h.start()
    sock.sendall(b"ping\n" * 1000)
    sock.shutdown(socket.SHUT_WR)
    frames = read_all(sock)
    assert joined(frames, 1) == b"ping\n" * 1000
    assert wait_shim_exit(h)["exit_code"] == 0


def test_fan_out_to_several_attach_clients(env):
    h = env.spawn(["sh", "-c", "seq 1 2000"])
    socks = [h.attach(stdin=False, stdout=True, stderr=False) for _ in range(3)]
    h.start()
    expected = "".join(f"{i}\n" for i in range(1, 2001)).encode()
    for sock in socks:
        assert joined(read_all(sock)) == expected
    wait_shim_exit(h)


def test_tty_output_and_resize(env):
    h = env.spawn(["sh", "-c", "read x; stty size; exit 7"], tty=True, stdin=True)
    sock = h.attach(stdin=True, stdout=True, stderr=True)
    h.start()
    h.resize(33, 111)
    sock.sendall(b"go\r")
    frames = read_all(sock)
    assert {s for s, _ in frames} == {1}
    assert b"33 111" in joined(frames)
    assert wait_shim_exit(h)["exit_code"] == 7
    assert any("33 111" in r["log"] for r in log_records(env.log_file))


def test_exec_in_running_container(env):
    h = env.spawn(["sleep", "100"])
    h.start()
    ex = h.exec("e1", dict(PROC, args=["sh", "-c", "echo from-exec; cat; exit 5"]),
                tty=False, stdin=True)
    sock = ex.attach(stdin=True, stdout=True, stderr=True)
    ex.start()
    assert ex.pid > 0
    sock.sendall(b"piped\n")
    sock.shutdown(socket.SHUT_WR)
    assert joined(read_all(sock), 1) == b"from-exec\npiped\n"
    assert ex.wait(timeout=20)["exit_code"] == 5
    assert ex.exit_status()["exit_code"] == 5
    # a failing exec reports the runtime's error with Docker's exit code
    bad = h.exec("e2", dict(PROC, args=["/no/such/binary"]), tty=False, stdin=False)
    with pytest.raises(RuntimeFailed) as info:
        bad.start()
    assert info.value.exit_code in (126, 127)
    # the exec output is not the container's log
    h.kill(signal.SIGKILL)
    wait_shim_exit(h)
    assert not any("from-exec" in r["log"] for r in log_records(env.log_file)) if os.path.exists(env.log_file) else True


def test_exec_with_tty(env):
    h = env.spawn(["sleep", "100"])
    h.start()
    ex = h.exec("t1", dict(PROC, args=["sh", "-c", "read x; stty size"], terminal=True),
                tty=True, stdin=True)
    sock = ex.attach(stdin=True, stdout=True, stderr=True)
    ex.start()
    ex.resize(12, 34)
    sock.sendall(b"go\r")
    frames = read_all(sock)
    assert {s for s, _ in frames} == {1}
    assert b"12 34" in joined(frames)
    assert ex.wait(timeout=20)["exit_code"] == 0
    h.kill(signal.SIGKILL)
    wait_shim_exit(h)


def test_create_failure_reports_and_cleans_up(env):
    with pytest.raises(RuntimeFailed) as info:
        env.spawn(["/no/such/binary"])
    assert info.value.exit_code == 127
    assert "no such file" in str(info.value).lower() or "not found" in str(info.value).lower()
    assert not os.path.exists(os.path.join(env.state_dir, "shim.sock"))
    assert shimclient.ShimHandle.load(env.state_dir) is None
    res = subprocess.run([env.runtime, "--root", env.runtime_root, "state", env.id],
                         capture_output=True)
    assert res.returncode != 0


def test_shim_survives_its_spawner(env):
    env.write_spec(["sh", "-c", "echo survived"])
    code = (
        "import sys, time\n"
        "from hako.runtime import shimclient\n"
        f"h = shimclient.spawn(id={env.id!r}, bundle={env.bundle!r}, state_dir={env.state_dir!r},"
        f" runtime={env.runtime!r}, runtime_root={env.runtime_root!r}, log_file={env.log_file!r})\n"
        "print(h.shim_pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    spawner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        shim_pid = int(spawner.stdout.readline())
        env.shim_pids.append(shim_pid)
    finally:
        spawner.kill()
        spawner.wait()
    h = shimclient.ShimHandle.load(env.state_dir)
    assert h is not None and h.shim_pid == shim_pid
    with open(f"/proc/{shim_pid}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) != spawner.pid  # ppid
    sock = h.attach(stdin=False, stdout=True, stderr=True)
    h.start()
    assert joined(read_all(sock)) == b"survived\n"
    assert wait_shim_exit(h)["exit_code"] == 0
    assert shimclient.ShimHandle.load(env.state_dir) is None
    assert shimclient.read_exit_status(env.state_dir)["exit_code"] == 0


def test_everything_is_cleaned_up_after_exit(env):
    h = env.spawn(["true"])
    shim_pid = h.shim_pid
    h.start()
    wait_shim_exit(h)
    assert not os.path.exists(os.path.join(env.state_dir, "shim.sock"))
    assert not linux_proc.is_alive(shim_pid)  # gone, or a zombie until its new parent reaps
    res = subprocess.run([env.runtime, "--root", env.runtime_root, "state", env.id],
                         capture_output=True)
    assert res.returncode != 0
    assert h.state() == {"pid": h.pid, "status": "exited", "exit_code": 0}  # from exit.json
    assert shimclient.ShimHandle.load(env.state_dir) is None


def test_stdin_stays_open_without_stdin_once(env):
    h = env.spawn(["cat"], stdin=True, stdin_once=False)
    watcher = h.attach(stdin=False, stdout=True, stderr=False)
    h.start()
    first = h.attach(stdin=True, stdout=False, stderr=False)
    first.sendall(b"one\n")
    first.shutdown(socket.SHUT_WR)
    watcher.settimeout(20)
    assert watcher.recv(65536) == shim_wire.frame(1, b"one\n")
    assert h.state()["status"] == "running"  # the half-close did not end stdin
    second = h.attach(stdin=True, stdout=False, stderr=False)
    second.sendall(b"two\n")
    assert watcher.recv(65536) == shim_wire.frame(1, b"two\n")
    h.kill(signal.SIGKILL)
    read_all(watcher)
    first.close()
    second.close()
    assert wait_shim_exit(h)["exit_code"] == 137


def test_large_output_is_complete_on_attach_and_log(env):
    h = env.spawn(["sh", "-c", "seq 1 300000"])
    sock = h.attach(stdin=False, stdout=True, stderr=True)
    h.start()
    expected = "".join(f"{i}\n" for i in range(1, 300001))
    assert joined(read_all(sock)).decode() == expected
    wait_shim_exit(h)
    assert "".join(r["log"] for r in log_records(env.log_file)) == expected


def test_module_command_line(env):
    env.write_spec(["true"])
    base = [sys.executable, "-m", "hako.runtime.shim", "create", "--id", env.id,
            "--bundle", env.bundle, "--state-dir", env.state_dir, "--runtime", env.runtime,
            "--runtime-root", env.runtime_root, "--log-file", env.log_file]
    res = subprocess.run(base, capture_output=True, text=True, timeout=30)
    report = json.loads(res.stdout)
    assert res.returncode == 0 and report["ok"] is True
    env.shim_pids.append(report["shim_pid"])
    h = shimclient.ShimHandle.load(env.state_dir)
    assert (h.pid, h.shim_pid) == (report["pid"], report["shim_pid"])
    h.start()
    assert wait_shim_exit(h)["exit_code"] == 0
    bad = subprocess.run(base[:4] + ["--id", "x"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False


def test_long_state_dir_and_exec_id(env):
    env.state_dir = os.path.join(env.tmp, "d" * 60, "e" * 60, "state")
    h = env.spawn(["sleep", "100"], tty=True)
    h.start()
    h.resize(10, 20)
    exec_id = "ab" * 32
    ex = h.exec(exec_id, dict(PROC, args=["echo", "long"]), tty=False, stdin=False)
    assert len(os.path.join(ex.state_dir, "shim.sock")) > 108
    sock = ex.attach(stdin=False, stdout=True, stderr=True)
    ex.start()
    assert joined(read_all(sock)) == b"long\n"
    assert ex.wait(timeout=20)["exit_code"] == 0
    h.kill(signal.SIGKILL)
    assert wait_shim_exit(h)["exit_code"] == 137


def test_container_does_not_inherit_ignored_signals(env):
    h = env.spawn(["sh", "-c", "grep SigIgn /proc/self/status; yes | head -n 1"])
    sock = h.attach(stdin=False, stdout=True, stderr=True)
    h.start()
    out = joined(read_all(sock))
    assert wait_shim_exit(h)["exit_code"] == 0
    line, rest = out.split(b"\n", 1)
    ignored = int(line.split()[1], 16)
    assert not ignored & (1 << (13 - 1)) and not ignored & (1 << (25 - 1))  # SIGPIPE, SIGXFSZ
    assert rest == b"y\n"


def test_oom_kill_is_recorded(env):
    if not os.path.isdir("/sys/fs/cgroup/memory") and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("requires the memory cgroup controller")
    spec_args = ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]
    env.write_spec(spec_args)
    with open(os.path.join(env.bundle, "config.json")) as f:
        spec = json.load(f)
    limit = 32 * 1024 * 1024
    spec["linux"].setdefault("resources", {})["memory"] = {"limit": limit, "swap": limit}
    with open(os.path.join(env.bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    h = shimclient.spawn(id=env.id, bundle=env.bundle, state_dir=env.state_dir,
                         runtime=env.runtime, runtime_root=env.runtime_root,
                         log_file=env.log_file)
    env.shim_pids.append(h.shim_pid)
    h.start()
    status = wait_shim_exit(h)
    assert status["oom_killed"] is True
    assert status["exit_code"] != 0  # 137 when the OOM killer picks the init itself


def test_exec_stdin_sent_before_start_is_kept(env):
    h = env.spawn(["sleep", "100"])
    h.start()
    ex = h.exec("early", dict(PROC, args=["cat"]), tty=False, stdin=True)
    sock = ex.attach(stdin=True, stdout=True, stderr=True)
    sock.sendall(b"early bytes\n")
    sock.shutdown(socket.SHUT_WR)
    assert ex.state()["status"] == "created"
    ex.start()
    assert joined(read_all(sock)) == b"early bytes\n"
    assert ex.wait(timeout=20)["exit_code"] == 0
    h.kill(signal.SIGKILL)
    wait_shim_exit(h)


def test_wait_reply_carries_the_exit_record_before_the_shim_exits(env):
    """open_wait: the reply has what exit.json has, and comes while the shim still runs
    (it deletes the container and exits afterwards)."""
    h = env.spawn(["sh", "-c", "exit 7"])
    sock = h.open_wait()
    fd = h.pidfd()
    try:
        h.start()
        sock.setblocking(True)
        sock.settimeout(20)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(4096)
            assert chunk, "the shim closed the wait connection without a reply"
            buf += chunk
        status = shimclient.exit_reply(buf)
        assert status is not None and status["exit_code"] == 7 and status["exited_at"]
        assert status == h.exit_status()  # exit.json is written before the reply
        ready, _, _ = select.select([fd], [], [], 20)
        assert ready, "shim did not exit after replying"
    finally:
        sock.close()
        os.close(fd)
