"""Black-box: the real docker CLI drives hakod's container lifecycle."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.daemon_harness import docker, out, poll

pytestmark = pytest.mark.integration


def test_run_echo(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "busybox", "echo", "This is a test container OK.")
    assert res.returncode == 0, res.stderr
    assert out(res) == "This is a test container OK.\n"


@pytest.mark.parametrize("cmd,code", [
    (["sh", "-c", "exit 3"], 3),
    (["nosuchcmd"], 127),
    (["/etc/passwd"], 126),
    (["sh", "-c", "exit 255"], 255),
])
def test_run_exit_codes(hakod, docker_cli, cmd, code):
    res = docker(hakod, docker_cli, "run", "--rm", "busybox", *cmd)
    assert res.returncode == code, res.stderr


def test_run_not_found_message(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "busybox", "nosuchcmd")
    assert b'executable file not found in $PATH' in res.stderr


def test_stdin_pipe(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "-i", "--rm", "busybox", "cat", input=b"hi\n")
    assert res.returncode == 0, res.stderr
    assert out(res) == "hi\n"


def test_stdout_and_stderr_are_separate(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert out(res) == "out\n"
    assert res.stderr.decode() == "err\n"


def test_detached_logs_follow_and_stop(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "busybox", "sh", "-c",
                     "echo started; while true; do sleep 0.1; done", check=True)).strip()
    try:
        assert len(cid) == 64
        follow = subprocess.Popen([docker_cli, "logs", "-f", cid], stdout=subprocess.PIPE, env=hakod.env)
        try:
            assert follow.stdout.readline() == b"started\n"
            res = docker(hakod, docker_cli, "stop", "-t", "1", cid)
            assert res.returncode == 0, res.stderr
            assert follow.wait(20) == 0
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        state = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]["State"]
        assert state["Status"] == "exited"
        assert state["ExitCode"] == 137
        assert state["Running"] is False and state["Pid"] == 0
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_create_start_wait_rm(hakod, docker_cli):
    name = "lifecycle-test"
    cid = out(docker(hakod, docker_cli, "create", "--name", name, "busybox", "sh", "-c", "exit 7",
                     check=True)).strip()
    try:
        fmt = out(docker(hakod, docker_cli, "ps", "-a", "--filter", f"name={name}", "--format",
                         "{{.Names}} {{.Status}}", check=True))
        assert fmt.strip() == f"{name} Created"
        docker(hakod, docker_cli, "start", name, check=True)
        res = docker(hakod, docker_cli, "wait", name, check=True)
        assert out(res).strip() == "7"
        status = out(docker(hakod, docker_cli, "inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", cid))
        assert status.strip() == "7 exited"
    finally:
        assert docker(hakod, docker_cli, "rm", name).returncode == 0
    assert docker(hakod, docker_cli, "inspect", cid).returncode == 1


def test_name_conflict_and_bad_name(hakod, docker_cli):
    docker(hakod, docker_cli, "create", "--name", "dup", "busybox", "true", check=True)
    try:
        res = docker(hakod, docker_cli, "create", "--name", "dup", "busybox", "true")
        assert res.returncode == 1
        assert b'The container name "/dup" is already in use' in res.stderr
    finally:
        docker(hakod, docker_cli, "rm", "dup")
    res = docker(hakod, docker_cli, "create", "--name", "bad name!", "busybox", "true")
    assert res.returncode == 1
    assert b"Invalid container name" in res.stderr


def test_unknown_image_and_container(hakod, docker_cli):
    res = docker(hakod, docker_cli, "create", "--pull=never", "nosuchimage:1", "true")
    assert res.returncode != 0
    assert b"No such image: nosuchimage:1" in res.stderr
    res = docker(hakod, docker_cli, "stop", "nosuchcontainer")
    assert res.returncode == 1
    assert b"No such container: nosuchcontainer" in res.stderr


def test_bad_memory_string(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "-m", "lots", "busybox", "true")
    assert res.returncode == 125
    assert b"invalid" in res.stderr.lower()
    res = docker(hakod, docker_cli, "run", "--rm", "-m", "1m", "busybox", "true")
    assert res.returncode == 125
    assert b"Minimum memory limit allowed is 6MB" in res.stderr


def test_running_container_ops(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "--name", "ops", "busybox", "sleep", "1000",
                     check=True)).strip()
    try:
        top = out(docker(hakod, docker_cli, "top", "ops", check=True))
        assert "sleep 1000" in top and "PID" in top
        assert out(docker(hakod, docker_cli, "exec", "ops", "echo", "in-exec", check=True)) == "in-exec\n"
        res = docker(hakod, docker_cli, "exec", "ops", "sh", "-c", "exit 5")
        assert res.returncode == 5
        assert out(docker(hakod, docker_cli, "exec", "-u", "nobody", "ops", "id", "-u", check=True)).strip() \
            == "65534"
        docker(hakod, docker_cli, "pause", "ops", check=True)
        assert "Paused" in out(docker(hakod, docker_cli, "ps", "--format", "{{.Status}}", "-f", "name=ops"))
        assert b"paused" in docker(hakod, docker_cli, "exec", "ops", "true").stderr
        docker(hakod, docker_cli, "unpause", "ops", check=True)
        docker(hakod, docker_cli, "rename", "ops", "ops2", check=True)
        assert out(docker(hakod, docker_cli, "inspect", "-f", "{{.Name}}", cid)).strip() == "/ops2"
        res = docker(hakod, docker_cli, "rm", "ops2")
        assert res.returncode == 1 and b"cannot remove a running container" in res.stderr
        docker(hakod, docker_cli, "kill", "-s", "KILL", "ops2", check=True)
        assert out(docker(hakod, docker_cli, "wait", "ops2")).strip() == "137"
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_restart_keeps_an_autoremove_container_and_a_later_stop_removes_it(hakod, docker_cli):
    """moby: the exit a restart causes does not auto-remove (HasBeenManuallyRestarted); the
    container runs again, and its next exit removes it as --rm asks."""
    cid = out(docker(hakod, docker_cli, "run", "-d", "--rm", "--name", "rmrestart", "busybox",
                     "sleep", "1000", check=True)).strip()
    try:
        pid = out(docker(hakod, docker_cli, "inspect", "-f", "{{.State.Pid}}", cid)).strip()
        docker(hakod, docker_cli, "restart", "-t", "1", "rmrestart", check=True)
        state = out(docker(hakod, docker_cli, "inspect", "-f", "{{.State.Running}} {{.State.Pid}}",
                           cid, check=True)).split()
        assert state[0] == "true" and state[1] != pid
        docker(hakod, docker_cli, "stop", "-t", "1", "rmrestart", check=True)
        poll(lambda: docker(hakod, docker_cli, "inspect", cid).returncode == 1, timeout=20)
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_diff_and_export(hakod, docker_cli, tmp_path):
    cid = out(docker(hakod, docker_cli, "run", "-d", "busybox", "sh", "-c",
                     "echo x > /newfile; rm /etc/group; sleep 1000", check=True)).strip()
    try:
        def changed():
            text = out(docker(hakod, docker_cli, "diff", cid))
            return text if "A /newfile" in text else None
        text = poll(changed)
        assert "D /etc/group" in text and "C /etc" in text
        tar = tmp_path / "fs.tar"
        docker(hakod, docker_cli, "export", "-o", str(tar), cid, check=True)
        listing = subprocess.run(["tar", "-tf", str(tar)], capture_output=True, check=True).stdout.decode()
        assert "newfile" in listing and "bin/busybox" in listing and "etc/group" not in listing
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_run_with_user_workdir_env_hostname(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "-u", "nobody", "-w", "/tmp/wd", "-e", "FOO=bar",
                 "-h", "boxhost", "busybox", "sh", "-c", 'echo $(id -u) $(pwd) $FOO $(hostname)')
    assert out(res) == "65534 /tmp/wd bar boxhost\n", res.stderr


def test_isolation_pid1_and_readonly(hakod, docker_cli):
    assert out(docker(hakod, docker_cli, "run", "--rm", "busybox", "sh", "-c", "echo $$")) == "1\n"
    res = docker(hakod, docker_cli, "run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert res.returncode != 0 and b"Read-only file system" in res.stderr
    res = docker(hakod, docker_cli, "run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox",
                 "touch", "/scratch/x")
    assert res.returncode == 0, res.stderr


def test_memory_limit_and_oom(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "-m", "32m", "--memory-swap", "32m", "busybox",
                     "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=64", check=True)).strip()
    try:
        code = out(docker(hakod, docker_cli, "wait", cid)).strip()
        limit = out(docker(hakod, docker_cli, "inspect", "-f", "{{.HostConfig.Memory}}", cid)).strip()
        assert limit == str(32 * 1024 * 1024)
        state = json.loads(out(docker(hakod, docker_cli, "inspect", cid)))[0]["State"]
        assert code == "137" and state["OOMKilled"] is True
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def _cap_eff(hakod, docker_cli, *flags: str) -> int:
    res = docker(hakod, docker_cli, "run", "--rm", *flags, "busybox", "grep", "CapEff", "/proc/self/status")
    assert res.returncode == 0, res.stderr
    return int(out(res).split()[1], 16)


def test_cap_drop_and_privileged(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "nobody", "/tmp")
    assert res.returncode != 0 and b"Operation not permitted" in res.stderr, res.stderr
    res = docker(hakod, docker_cli, "run", "--rm", "busybox", "chown", "nobody", "/tmp")
    assert res.returncode == 0, res.stderr
    res = docker(hakod, docker_cli, "run", "--rm", "busybox", "cat", "/proc/kcore")
    assert res.returncode != 0
    # Docker's default set exactly; --cap-drop/--cap-add move single bits
    default = _cap_eff(hakod, docker_cli)
    assert default == 0xa80425fb, hex(default)
    assert _cap_eff(hakod, docker_cli, "--cap-drop", "CHOWN") == default & ~(1 << 0)
    assert _cap_eff(hakod, docker_cli, "--cap-add", "NET_ADMIN") == default | (1 << 12)


def test_init_reaper(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "--init", "busybox", "ps", "-o", "pid,comm")
    assert res.returncode == 0, res.stderr
    lines = out(res).split("\n")
    assert any(ln.split()[:2] == ["1", "tini-static"] or ln.split()[:2] == ["1", "docker-init"]
               for ln in lines if ln.strip()), out(res)


def test_privileged_gets_every_capability_the_host_allows(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "--rm", "--privileged", "busybox", "sh", "-c",
                 "grep CapEff /proc/self/status; ls /dev/ | wc -l")
    assert res.returncode == 0, res.stderr
    lines = out(res).splitlines()
    with open("/proc/self/status") as f:
        host_bnd = next(ln.split()[1] for ln in f if ln.startswith("CapBnd:"))
    assert lines[0].split()[1] == host_bnd
    assert int(lines[1]) > 10  # host devices are visible, not just Docker's default six
