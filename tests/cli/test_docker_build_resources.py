"""Black-box through the docker CLI (legacy builder): docker build's resource flags reach the
containers of the RUN steps (moby's hostConfigFromOptions): --memory, --cpu-shares,
--shm-size, --ulimit, --cgroup-parent; a value a create refuses fails the step."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration

V1 = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _build(hakod, docker_cli, ctx, *flags):
    env = dict(hakod.env, DOCKER_BUILDKIT="0")
    return subprocess.run([docker_cli, "build", *flags, str(ctx)], capture_output=True, env=env, timeout=120)


def test_resource_flags_reach_the_run_steps(hakod, docker_cli, tmp_path):
    # what each RUN saw, written into the image: /dev/shm's size, the nofile limits, and
    # (cgroup v1) the step's own memory and cpu cgroup files, found by its /proc/self/cgroup
    probe = ("df -k /dev/shm | tail -n1 | awk '{print $2}' > /shm; ulimit -Sn > /nofile; ulimit -Hn >> /nofile; "
             "grep -E ':memory:|:cpu,|:cpu:' /proc/self/cgroup > /cgroups")
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN {probe}\n")
    tag = "hako-build-res:1"
    res = _build(hakod, docker_cli, tmp_path, "--memory", "64m", "--memory-swap", "-1", "--cpu-shares", "512",
                 "--shm-size", "100m", "--ulimit", "nofile=1024:2048", "--no-cache", "-t", tag)
    assert res.returncode == 0, res.stderr
    try:
        text = out(docker(hakod, docker_cli, "run", "--rm", tag, "cat", "/shm", "/nofile", check=True)).split()
        assert text == ["102400", "1024", "2048"], text
        # without the flags: Docker's defaults (64 MiB /dev/shm)
        (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN {probe} # plain\n")
        assert _build(hakod, docker_cli, tmp_path, "-t", tag + "-plain").returncode == 0
        assert out(docker(hakod, docker_cli, "run", "--rm", tag + "-plain", "cat", "/shm",
                          check=True)).split() == ["65536"]
    finally:
        docker(hakod, docker_cli, "rmi", "-f", tag, tag + "-plain")


@pytest.mark.skipif(not V1, reason="reads the step's cgroup v1 files from the host")
def test_memory_and_cpu_shares_are_set_on_the_step_cgroup(hakod, docker_cli, tmp_path):
    # the step reports its own cgroup files through the memory and cpu hierarchies mounted in it
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares > /limits\n")
    tag = "hako-build-res:2"
    res = _build(hakod, docker_cli, tmp_path, "--memory", "64m", "--cpu-shares", "512", "--no-cache", "-t", tag)
    assert res.returncode == 0, res.stderr
    try:
        assert out(docker(hakod, docker_cli, "run", "--rm", tag, "cat", "/limits", check=True)).split() \
            == [str(64 << 20), "512"]
    finally:
        docker(hakod, docker_cli, "rmi", "-f", tag)


def test_a_value_a_create_refuses_fails_the_step(hakod, docker_cli, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    res = _build(hakod, docker_cli, tmp_path, "--memory", "1m", "-t", "hako-build-res:3")
    assert res.returncode != 0
    assert "Minimum memory limit allowed is 6MB" in res.stderr.decode()
    assert docker(hakod, docker_cli, "image", "inspect", "hako-build-res:3").returncode != 0
