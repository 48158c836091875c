"""specgen: each with_* operation on its own, build_spec as a whole, validate_resources."""

from __future__ import annotations

import os
import stat

import pytest

from hako.errors import InvalidArgument
from hako.runtime import capabilities as caps
from hako.runtime import specgen as sg
from hako.runtime.specgen import SpecOptions


def _opts(**kw):
    kw.setdefault("rootfs", "/bundle/rootfs")
    kw.setdefault("args", ("sh",))
    return SpecOptions(**kw)


def _apply(op, **kw):
    spec = sg.default_spec("/bundle/rootfs")
    op(spec, _opts(**kw))
    return spec


def _mount(spec, dest):
    found = [m for m in spec["mounts"] if m["destination"] == dest]
    assert len(found) <= 1
    return found[0] if found else None


def test_default_spec_matches_docker():
    spec = sg.default_spec("/r")
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
    assert _mount(spec, "/dev")["options"] == ["nosuid", "strictatime", "mode=755", "size=65536k"]
    assert "ro" in _mount(spec, "/sys")["options"]
    assert "size=67108864" in _mount(spec, "/dev/shm")["options"]
    assert spec["linux"]["maskedPaths"][0] == "/proc/asound"
    assert "/proc/sysrq-trigger" in spec["linux"]["readonlyPaths"]
    assert spec["process"]["capabilities"]["bounding"] == list(caps.DEFAULT_CAPABILITIES)
    assert "rlimits" not in spec["process"]
    assert spec["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}


def test_with_process_user_env_and_init():
    spec = _apply(sg.with_process, args=("echo", "hi"), env=("A=1",), cwd="/w", uid=1000,
                  gid=1000, additional_gids=(10, 20), terminal=True, oom_score_adj=500,
                  no_new_privileges=True, init_path="/usr/bin/tini")
    proc = spec["process"]
    assert proc["args"] == ["/sbin/docker-init", "--", "echo", "hi"]
    assert proc["env"] == ["A=1"] and proc["cwd"] == "/w" and proc["terminal"] is True
    assert proc["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
    assert proc["oomScoreAdj"] == 500 and proc["noNewPrivileges"] is True


def test_with_capabilities_add_drop_and_privileged():
    spec = _apply(sg.with_capabilities, cap_add=("net_admin",), cap_drop=("CHOWN",))
    bounding = spec["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in bounding and "CAP_CHOWN" not in bounding
    spec = _apply(sg.with_capabilities, privileged=True)
    assert spec["process"]["capabilities"]["effective"] == caps.all_capabilities()
    with pytest.raises(InvalidArgument, match="unknown capability"):
        _apply(sg.with_capabilities, cap_add=("bogus",))


def test_with_rlimits():
    spec = _apply(sg.with_rlimits, rlimits=(("nofile", 1024, 2048), ("core", -1, -1)))
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024},
        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1}]
    with pytest.raises(InvalidArgument, match="invalid ulimit type: bogus"):
        _apply(sg.with_rlimits, rlimits=(("bogus", 1, 1),))
    with pytest.raises(InvalidArgument, match="soft limit must be less"):
        _apply(sg.with_rlimits, rlimits=(("nofile", 10, 5),))


def test_with_hostname_only_with_private_uts():
    assert _apply(sg.with_hostname, hostname="box", domainname="lan")["hostname"] == "box"
    assert "hostname" not in _apply(sg.with_hostname, hostname="box", uts_host=True)


def test_with_namespaces_host_modes_and_paths():
    spec = _apply(sg.with_namespaces, netns_path="/run/netns/x", pid_host=True,
                  join_namespaces={"ipc": "/proc/42/ns/ipc"})
    assert spec["linux"]["namespaces"] == [
        {"type": "mount"}, {"type": "network", "path": "/run/netns/x"}, {"type": "uts"},
        {"type": "ipc", "path": "/proc/42/ns/ipc"}]
    spec = _apply(sg.with_namespaces, network_host=True, ipc_host=True, uts_host=True,
                  cgroupns_private=True)
    assert spec["linux"]["namespaces"] == [{"type": "mount"}, {"type": "pid"}, {"type": "cgroup"}]


def test_with_mounts_user_mounts_override_and_sort():
    hosts = {"destination": "/etc/hosts", "type": "bind", "source": "/c/hosts",
             "options": ["rbind", "rprivate"]}
    shm = {"destination": "/dev/shm", "type": "bind", "source": "/c/shm", "options": ["rbind"]}
    deep = {"destination": "/data/sub", "type": "bind", "source": "/v2", "options": ["rbind"]}
    top = {"destination": "/data", "type": "bind", "source": "/v1", "options": ["rbind"]}
    spec = _apply(sg.with_mounts, extra_mounts=(hosts, shm, deep, top), shm_size=1 << 20,
                  tmpfs={"/run": "size=1m,exec"})
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests.count("/dev/shm") == 1 and _mount(spec, "/dev/shm")["source"] == "/c/shm"
    assert dests.index("/data") < dests.index("/data/sub")
    assert _mount(spec, "/run")["options"] == ["nosuid", "nodev", "size=1m", "exec"]


def test_shm_size_and_ipc_host():
    spec = _apply(sg.with_mounts, shm_size=128 << 20)
    assert f"size={128 << 20}" in _mount(spec, "/dev/shm")["options"]
    spec = _apply(sg.with_mounts, ipc_host=True)
    assert _mount(spec, "/dev/shm")["type"] == "bind"
    assert _mount(spec, "/dev/shm")["source"] == "/dev/shm"


def test_privileged_mounts_paths_and_devices(tmp_path):
    spec = _apply(sg.with_mounts, privileged=True)
    assert "ro" not in _mount(spec, "/sys")["options"]
    assert "ro" not in _mount(spec, "/sys/fs/cgroup")["options"]
    spec = _apply(sg.with_masked_paths, privileged=True)
    assert spec["linux"]["maskedPaths"] == [] and spec["linux"]["readonlyPaths"] == []
    spec = sg.default_spec("/r")
    sg.with_devices(spec, _opts(privileged=True), dev_root="/dev")
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in spec["linux"]["devices"])


def test_with_devices_mapping():
    spec = _apply(sg.with_devices, devices=({"path_on_host": "/dev/null",
                                             "path_in_container": "/dev/mynull",
                                             "cgroup_permissions": "rw"},))
    st = os.stat("/dev/null")
    assert spec["linux"]["devices"] == [{
        "path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
        "fileMode": stat.S_IMODE(st.st_mode), "uid": 0, "gid": 0}]
    assert spec["linux"]["resources"]["devices"][-1] == {
        "allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}
    with pytest.raises(InvalidArgument, match="error gathering device information"):
        _apply(sg.with_devices, devices=({"path_on_host": "/nonexistent"},))


def test_with_resources():
    spec = _apply(sg.with_resources, memory=64 << 20, memory_swap=128 << 20,
                  memory_reservation=32 << 20, memory_swappiness=0, cpu_shares=512,
                  nano_cpus=1_500_000_000, cpuset_cpus="0", pids_limit=-1, blkio_weight=300)
    res = spec["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20,
                             "swappiness": 0}
    assert res["cpu"] == {"shares": 512, "period": 100000, "quota": 150000, "cpus": "0"}
    assert res["pids"] == {"limit": -1}
    assert res["blockIO"] == {"weight": 300}
    spec = _apply(sg.with_resources, cpu_quota=50000, cpu_period=100000)
    assert spec["linux"]["resources"]["cpu"] == {"quota": 50000, "period": 100000}
    assert "memory" not in _apply(sg.with_resources)["linux"]["resources"]


def test_with_sysctls():
    spec = _apply(sg.with_sysctls, sysctls={"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"})
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}
    with pytest.raises(InvalidArgument, match="host network namespace"):
        _apply(sg.with_sysctls, sysctls={"net.ipv4.ip_forward": "1"}, network_host=True)
    with pytest.raises(InvalidArgument, match="not whitelisted"):
        _apply(sg.with_sysctls, sysctls={"vm.swappiness": "1"})


def test_with_seccomp_and_privileged_unconfined():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}
    assert _apply(sg.with_seccomp, seccomp_profile=profile)["linux"]["seccomp"] == profile
    assert "seccomp" not in _apply(sg.with_seccomp, seccomp_profile=profile, privileged=True)["linux"]
    assert "seccomp" not in _apply(sg.with_seccomp, seccomp_profile=None)["linux"]
    assert "seccomp" not in _apply(sg.with_seccomp, seccomp_profile={})["linux"]  # Docker: unconfined


def test_with_seccomp_default_follows_the_bounding_set():
    spec = sg.build_spec(_opts(seccomp_profile="default"))
    names = {n for rule in spec["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "chroot" in names and "mount" not in names
    spec = sg.build_spec(_opts(seccomp_profile="default", cap_add=("SYS_ADMIN",)))
    names = {n for rule in spec["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "mount" in names
    spec = sg.build_spec(_opts(seccomp_profile="default", cap_drop=("SYS_CHROOT",)))
    names = {n for rule in spec["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "chroot" not in names
    assert "seccomp" not in sg.build_spec(_opts(seccomp_profile="default", privileged=True))["linux"]


def test_with_seccomp_docker_profile_conditions_use_the_caps():
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}
    spec = sg.build_spec(_opts(seccomp_profile=profile))
    assert spec["linux"]["seccomp"]["syscalls"] == [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    spec = sg.build_spec(_opts(seccomp_profile=profile, cap_add=("SYS_ADMIN",)))
    assert spec["linux"]["seccomp"]["syscalls"] == []


def test_build_spec_whole():
    spec = sg.build_spec(_opts(hostname="h", readonly_rootfs=True, cgroups_path="/hako/abc",
                               memory=64 << 20))
    assert spec["root"] == {"path": "/bundle/rootfs", "readonly": True}
    assert spec["linux"]["cgroupsPath"] == "/hako/abc"
    assert spec["hostname"] == "h"
    assert spec["process"]["args"] == ["sh"]
    with pytest.raises(InvalidArgument, match="No command specified"):
        sg.build_spec(SpecOptions(rootfs="/r"))


@pytest.mark.parametrize("kw,message", [
    ({"memory": 1 << 20}, "Minimum memory limit allowed is 6MB"),
    ({"memory": 64 << 20, "memory_swap": 32 << 20}, "Minimum memoryswap limit should be larger"),
    ({"memory_swap": 64 << 20}, "You should always set the Memory limit"),
    ({"memory_swappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"memory_reservation": 1 << 20}, "Minimum memory reservation allowed is 6MB"),
    ({"memory": 16 << 20, "memory_reservation": 32 << 20}, "can not be less than memory reserv"),
    ({"nano_cpus": 10**9, "cpu_period": 100000}, "Nano CPUs and CPU Period cannot both"),
    ({"nano_cpus": 10**9, "cpu_quota": 100000}, "Nano CPUs and CPU Quota cannot both"),
    ({"nano_cpus": 3 * 10**9}, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs"),
    ({"cpu_period": 500}, "CPU cfs period can not be less than 1ms"),
    ({"cpu_quota": 500}, "CPU cfs quota can not be less than 1ms"),
    ({"cpuset_cpus": "0-x"}, "Invalid value 0-x for cpuset cpus"),
    ({"cpuset_cpus": "0-3"}, "Requested CPUs are not available - requested 0-3, available: 0-1"),
    ({"cpuset_mems": "1"}, "Requested memory nodes are not available"),
    ({"blkio_weight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"oom_score_adj": 1001}, r"Invalid value 1001, range for oom score adj is \[-1000, 1000\]"),
])
def test_validate_resources_rejects(kw, message):
    with pytest.raises(InvalidArgument, match=message):
        sg.validate_resources(_opts(**kw), host_cpus="0-1", host_mems="0")


def test_validate_resources_ok_and_swap_warning():
    opts = _opts(memory=64 << 20, memory_swap=128 << 20, nano_cpus=10**9, cpuset_cpus="1")
    assert sg.validate_resources(opts, host_cpus="0-1", host_mems="0") == []
    warnings = sg.validate_resources(opts, host_cpus="0-1", host_mems="0",
                                     swap_limit_supported=False)
    assert warnings == ["Your kernel does not support swap limit capabilities or the cgroup is "
                        "not mounted. Memory limited without swap."]
    assert sg.validate_resources(_opts(memory_swap=64 << 20), update=True,
                                 host_cpus="0-1", host_mems="0") == []
