"""Black-box through the docker CLI: --device (a node, a directory of nodes, its cgroup
permissions), --device-cgroup-rule, --memory-swappiness, --oom-kill-disable and the blkio
throttles reach the container and its cgroup; what this host's cgroups cannot do (blkio
weights without CFQ/BFQ) is discarded with Docker's warning, not stored and ignored."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration

V1 = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _run(hakod, docker_cli, *args):
    return docker(hakod, docker_cli, "run", "--rm", *args)


def _cgroup_file(pid: int, controller: str, name: str) -> str:
    """A control file of the v1 cgroup ``pid`` is in, read from the host."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                with open(f"/sys/fs/cgroup/{controllers}{path}/{name}") as g:
                    return g.read()
    raise AssertionError(f"no {controller} cgroup for {pid}")


def _running(hakod, docker_cli, *flags):
    cid = out(docker(hakod, docker_cli, "run", "-d", *flags, "busybox", "sleep", "300", check=True)).strip()
    pid = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]["State"]["Pid"]
    return cid, pid


@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="needs the host's /dev/fuse (c 10:229, "
                    "a node Docker's default rules deny, so only --device's rule lets it be opened)")
def test_device_node_with_its_cgroup_permissions(hakod, docker_cli):
    res = _run(hakod, docker_cli, "--device", "/dev/fuse:/dev/f:r", "busybox", "sh", "-c",
               "ls -l /dev/f && true < /dev/f && echo opened")
    assert res.returncode == 0, res.stderr
    listing = out(res)
    assert listing.startswith("crw") and " 10, 229 " in listing and listing.endswith("opened\n"), listing
    # "w" only: the device cgroup refuses opening it for reading
    res = _run(hakod, docker_cli, "--device", "/dev/fuse:/dev/f:w", "busybox", "sh", "-c",
               "true < /dev/f && echo opened")
    assert res.returncode != 0 and "opened" not in out(res)
    assert "Operation not permitted" in res.stderr.decode()
    # without the mapping there is no node at all
    res = _run(hakod, docker_cli, "busybox", "ls", "/dev/f")
    assert res.returncode != 0


def test_device_directory_maps_every_node_below_it(hakod, docker_cli, tmp_path):
    (tmp_path / "sub").mkdir()
    os.mknod(tmp_path / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    os.mknod(tmp_path / "sub" / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    (tmp_path / "plain").write_text("not a device")
    res = _run(hakod, docker_cli, "--device", f"{tmp_path}:/dev/mine", "busybox", "sh", "-c",
               "head -c 4 /dev/mine/zero | od -An -tx1; ls /dev/mine /dev/mine/sub")
    assert res.returncode == 0, res.stderr
    text = out(res)
    assert "00 00 00 00" in text and "full" in text and "plain" not in text, text


def test_device_path_in_container_stays_inside_the_root(hakod, docker_cli):
    # ".." climbs no higher than the container's root (runc's SecureJoin): the node is the
    # container's /tmp/hako-escaped, never the host's
    target = "/dev" + "/.." * 40 + "/tmp/hako-escaped"
    res = _run(hakod, docker_cli, "--device", f"/dev/null:{target}", "busybox", "ls", "-l", "/tmp/hako-escaped")
    assert res.returncode == 0, res.stderr
    assert out(res).startswith("crw") and " 1,   3 " in out(res)
    assert not os.path.lexists("/tmp/hako-escaped")


def test_missing_device_fails_the_start_with_dockers_text(hakod, docker_cli):
    before = out(docker(hakod, docker_cli, "ps", "-aq"))
    res = _run(hakod, docker_cli, "--device", "/dev/hako-no-such-device", "busybox", "true")
    assert res.returncode == 127  # the docker CLI's code for a start error saying "no such file"
    assert out(docker(hakod, docker_cli, "ps", "-aq")) == before  # --rm: nothing left
    assert 'error gathering device information while adding custom device "/dev/hako-no-such-device"' \
        in res.stderr.decode()


def test_bad_device_cgroup_rule_is_refused(hakod, docker_cli):
    # the docker CLI checks the format itself; the API answers the same for other clients
    status, body = hakod.api("POST", "/containers/create", {
        "Image": "busybox", "HostConfig": {"DeviceCgroupRules": ["c 1:3 rwx"]}})
    assert status == 400 and body["message"] == "invalid device cgroup rule format: 'c 1:3 rwx'", body


@pytest.mark.skipif(not V1, reason="cgroup v1 control files (this host's layout)")
def test_device_cgroup_rule_swappiness_and_oom_switch_reach_the_cgroup(hakod, docker_cli):
    cid, pid = _running(hakod, docker_cli, "--device-cgroup-rule", "c 42:* rm", "--memory-swappiness", "17",
                        "--oom-kill-disable", "-m", "64m")
    try:
        assert "c 42:* rm" in _cgroup_file(pid, "devices", "devices.list")
        assert _cgroup_file(pid, "memory", "memory.swappiness").strip() == "17"
        assert "oom_kill_disable 1" in _cgroup_file(pid, "memory", "memory.oom_control")
        hc = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]["HostConfig"]
        assert hc["DeviceCgroupRules"] == ["c 42:* rm"]
        assert hc["MemorySwappiness"] == 17 and hc["OomKillDisable"] is True
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    info = json.loads(out(docker(hakod, docker_cli, "info", "--format", "{{json .}}", check=True)))
    assert info["OomKillDisable"] is True


def test_memory_swappiness_out_of_range_is_refused(hakod, docker_cli):
    status, body = hakod.api("POST", "/containers/create", {
        "Image": "busybox", "HostConfig": {"MemorySwappiness": 101}})
    assert status == 400 and body["message"] == "Invalid value: 101, valid memory swappiness range is 0-100"


def _whole_disk() -> str | None:
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram", "dm-", "sr")) and os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}"
    return None


@pytest.mark.skipif(not V1 or not os.path.exists("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device"),
                    reason="cgroup v1 blkio throttling (this host's layout)")
def test_blkio_throttles_reach_the_cgroup(hakod, docker_cli):
    disk = _whole_disk()
    assert disk, "no whole-disk block device on this machine"
    st = os.stat(disk)
    dev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    cid, pid = _running(hakod, docker_cli, "--device-read-bps", f"{disk}:1mb",
                        "--device-write-iops", f"{disk}:77")
    try:
        assert f"{dev} 1048576" in _cgroup_file(pid, "blkio", "blkio.throttle.read_bps_device")
        assert f"{dev} 77" in _cgroup_file(pid, "blkio", "blkio.throttle.write_iops_device")
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


@pytest.mark.skipif(os.path.exists("/sys/fs/cgroup/blkio/blkio.weight")
                    or os.path.exists("/sys/fs/cgroup/blkio/blkio.bfq.weight")
                    or os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
                    reason="this host's block scheduler has weights: nothing is discarded")
def test_blkio_weight_without_a_weighted_scheduler_is_discarded_with_dockers_warning(hakod, docker_cli):
    res = docker(hakod, docker_cli, "create", "--blkio-weight", "300", "busybox", "true")
    assert res.returncode == 0, res.stderr
    cid = out(res).strip()
    try:
        assert ("WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                "Weight discarded.") in res.stderr.decode()
        hc = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]["HostConfig"]
        assert hc["BlkioWeight"] == 0
        assert docker(hakod, docker_cli, "start", "-a", cid).returncode == 0
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
