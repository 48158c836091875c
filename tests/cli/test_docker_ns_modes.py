"""Black-box through the docker CLI: --pid host, --ipc host|none, --uts host and --cgroupns
private give the container the namespaces asked for (compared with the host's own by
/proc/<pid>/ns), and a container sharing the host's pid namespace leaves no process behind
when its init exits (containerd kills the rest of its cgroup then)."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration


def _ns(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def _run(hakod, docker_cli, *args):
    res = docker(hakod, docker_cli, "run", "--rm", *args)
    assert res.returncode == 0, res.stderr
    return out(res)


def test_pid_host_sees_the_hosts_processes(hakod, docker_cli):
    text = _run(hakod, docker_cli, "--pid", "host", "busybox", "sh", "-c",
                f"readlink /proc/self/ns/pid; echo $$; test -d /proc/{os.getpid()} && echo sees-me")
    ns, pid, seen = text.split()
    assert ns == _ns("pid") and int(pid) != 1 and seen == "sees-me"
    # the default: a pid namespace of its own, the shell is pid 1
    text = _run(hakod, docker_cli, "busybox", "sh", "-c", "readlink /proc/self/ns/pid; echo $$")
    assert text.split() != [_ns("pid"), "1"] and text.split()[1] == "1"


def test_pid_host_init_exit_kills_what_it_left(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "--pid", "host", "busybox", "sh", "-c",
                     "sleep 1000 & echo $! > /tmp/left; sleep 1", check=True)).strip()
    try:
        left = int(out(docker(hakod, docker_cli, "exec", cid, "cat", "/tmp/left", check=True)))
        assert os.path.exists(f"/proc/{left}")  # the container's sleep, seen from the host
        started = time.monotonic()
        res = docker(hakod, docker_cli, "wait", cid)
        assert out(res).strip() == "0", res.stderr
        assert time.monotonic() - started < 4.0  # not held until the shim's 5 s drain timeout
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{left}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{left}")
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_ipc_host_and_none(hakod, docker_cli):
    assert _run(hakod, docker_cli, "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc").strip() \
        == _ns("ipc")
    text = _run(hakod, docker_cli, "--ipc", "none", "busybox", "sh", "-c",
                "readlink /proc/self/ns/ipc; grep -c ' /dev/shm ' /proc/self/mounts || true")
    ns, shm_mounts = text.split()
    assert ns != _ns("ipc") and shm_mounts == "0"
    hc = json.loads(out(docker(hakod, docker_cli, "inspect", "--type", "image", "busybox", check=True)))
    assert hc  # the image is still there: nothing above removed it


def test_uts_host_and_its_conflict_with_hostname(hakod, docker_cli):
    text = _run(hakod, docker_cli, "--uts", "host", "busybox", "sh", "-c",
                "hostname; readlink /proc/self/ns/uts")
    name, ns = text.split()
    assert name == socket.gethostname() and ns == _ns("uts")
    res = docker(hakod, docker_cli, "run", "--rm", "--uts", "host", "-h", "other", "busybox", "true")
    assert res.returncode != 0
    assert "conflicting options: hostname and the UTS mode" in res.stderr.decode()


def test_cgroupns_private(hakod, docker_cli):
    text = _run(hakod, docker_cli, "--cgroupns", "private", "busybox", "sh", "-c",
                "readlink /proc/self/ns/cgroup; cat /proc/self/cgroup")
    ns, *lines = text.split()
    assert ns != _ns("cgroup")
    # inside its own cgroup namespace the container's cgroups are the root of each hierarchy
    assert lines and all(line.endswith(":/") for line in lines), lines
    cid = out(docker(hakod, docker_cli, "create", "--cgroupns", "private", "busybox", "true",
                     check=True)).strip()
    try:
        hc = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]["HostConfig"]
        assert hc["CgroupnsMode"] == "private"
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    text = _run(hakod, docker_cli, "busybox", "readlink", "/proc/self/ns/cgroup")
    assert text.strip() == _ns("cgroup")  # the default here: the host's (Docker's on v1)


def test_pid_of_another_container(hakod, docker_cli):
    name = "hako-pid-donor"
    donor = out(docker(hakod, docker_cli, "run", "-d", "--name", name, "busybox", "sleep", "300",
                       check=True)).strip()
    try:
        pid = json.loads(out(docker(hakod, docker_cli, "inspect", donor, check=True)))[0]["State"]["Pid"]
        text = _run(hakod, docker_cli, "--pid", f"container:{name}", "busybox", "sh", "-c",
                    "readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr '\\0' ' '")
        ns, *cmdline = text.split()
        assert ns == os.readlink(f"/proc/{pid}/ns/pid")  # the donor's pid namespace
        assert cmdline == ["sleep", "300"]  # its init is the joiner's pid 1
        docker(hakod, docker_cli, "stop", "-t", "0", name, check=True)
        res = docker(hakod, docker_cli, "run", "--rm", "--pid", f"container:{name}", "busybox", "true")
        assert res.returncode != 0
        assert f"container {donor} is not running" in res.stderr.decode()
    finally:
        docker(hakod, docker_cli, "rm", "-f", name)
    res = docker(hakod, docker_cli, "run", "--rm", "--pid", "container:hako-no-such", "busybox", "true")
    assert res.returncode != 0
    assert "cannot join PID of a non running container: hako-no-such: No such container: hako-no-such" \
        in res.stderr.decode()
    status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"PidMode": "container:"}})
    assert status == 400 and body["message"] == "invalid PID mode: container:"


def _mounted(path_part: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(path_part in line.split()[4] for line in f)


def test_ipc_of_a_shareable_container(hakod, docker_cli):
    donor = out(docker(hakod, docker_cli, "run", "-d", "--ipc", "shareable", "--name", "hako-ipc-donor",
                       "busybox", "sh", "-c", "echo shared > /dev/shm/x; sleep 300", check=True)).strip()
    try:
        pid = json.loads(out(docker(hakod, docker_cli, "inspect", donor, check=True)))[0]["State"]["Pid"]
        assert _mounted(f"{donor}/mounts/shm")  # its /dev/shm is a tmpfs hakod mounted
        deadline = time.monotonic() + 10
        text = ""
        while "shared" not in text and time.monotonic() < deadline:
            text = _run(hakod, docker_cli, "--ipc", "container:hako-ipc-donor", "busybox", "sh", "-c",
                        "readlink /proc/self/ns/ipc; cat /dev/shm/x 2>/dev/null || true")
        ns, content = text.split()
        assert ns == os.readlink(f"/proc/{pid}/ns/ipc") and content == "shared"
    finally:
        docker(hakod, docker_cli, "rm", "-f", donor)
    assert not _mounted(f"{donor}/mounts/shm")  # unmounted with the container


def test_ipc_of_a_private_container_is_refused(hakod, docker_cli):
    donor = out(docker(hakod, docker_cli, "run", "-d", "--name", "hako-ipc-private", "busybox", "sleep", "300",
                       check=True)).strip()
    try:
        res = docker(hakod, docker_cli, "run", "--rm", "--ipc", "container:hako-ipc-private", "busybox", "true")
        assert res.returncode != 0
        assert ("cannot join IPC of a non running container: hako-ipc-private: non-shareable IPC "
                "(hint: use IpcMode:shareable for the donor container)") in res.stderr.decode()
    finally:
        docker(hakod, docker_cli, "rm", "-f", donor)
    status, body = hakod.api("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"IpcMode": "bogus"}})
    assert status == 400 and body["message"] == "invalid IPC mode: bogus"
