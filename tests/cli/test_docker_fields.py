"""Black-box: the real docker CLI gets a clear daemon error naming the field (exit 125, as
for Docker's daemon errors) for flags hako cannot honour, and plain runs still work with
every zero value the CLI sends."""

from __future__ import annotations

import json

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("flags,named", [
    (["--log-driver", "journald"], "HostConfig.LogConfig.Type"),
    (["--storage-opt", "size=1G"], "HostConfig.StorageOpt"),
    (["--cpu-rt-runtime", "100"], "HostConfig.CpuRealtimeRuntime"),
    (["--kernel-memory", "64m"], "HostConfig.KernelMemory"),
])
def test_run_refuses_field_naming_it(hakod, docker_cli, flags, named):
    before = out(docker(hakod, docker_cli, "ps", "-aq"))
    res = docker(hakod, docker_cli, "run", "--rm", *flags, "busybox", "echo", "ran")
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert "ran" not in out(res)
    assert f"Error response from daemon: {named} is not supported yet (" in res.stderr.decode()
    assert out(docker(hakod, docker_cli, "ps", "-aq")) == before


@pytest.mark.parametrize("flags", [
    [], ["--network", "none"], ["--network", "bridge"], ["--no-healthcheck"], ["--expose", "80"],
    ["--health-cmd", "true", "--health-interval", "1s"],
    ["--userns", "host"], ["--ipc", "shareable"], ["--log-driver", "none"], ["--network", "host"],
    ["--dns", "192.0.2.53", "--dns-search", "example.com", "--dns-option", "ndots:2"],
])
def test_plain_runs_still_work(hakod, docker_cli, flags):
    res = docker(hakod, docker_cli, "run", "--rm", *flags, "busybox", "echo", "ran")
    assert res.returncode == 0, res.stderr
    assert out(res) == "ran\n"


def test_update_refuses_blkio_weight(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "create", "busybox", "true", check=True)).strip()
    try:
        res = docker(hakod, docker_cli, "update", "--blkio-weight", "300", cid)
        assert res.returncode != 0
        assert "BlkioWeight is not supported yet by update" in res.stderr.decode()
        hc = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]["HostConfig"]
        assert hc["BlkioWeight"] == 0
        assert docker(hakod, docker_cli, "update", "--cpu-shares", "512", cid).returncode == 0
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_build_refuses_network_host(hakod, docker_cli, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    import subprocess
    env = dict(hakod.env, DOCKER_BUILDKIT="0")
    res = subprocess.run([docker_cli, "build", "--network", "host", "-t", "fields-net", str(tmp_path)],
                         capture_output=True, env=env, timeout=60)
    assert res.returncode != 0
    assert "networkmode=host is not supported yet" in res.stderr.decode()
    assert docker(hakod, docker_cli, "image", "inspect", "fields-net").returncode != 0
