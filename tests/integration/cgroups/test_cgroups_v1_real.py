"""CgroupV1Manager against the real kernel (this machine's v1 hierarchies).

Each test gets a unique parent ("/hako-test-<pid>-<rand>") and removes the container's
cgroup, its parent and every process it started, even on failure.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys

import pytest

from hako.errors import InvalidArgument
from hako.runtime.cgroups import base
from hako.runtime.cgroups.detect import is_v2, new_manager
from hako.runtime.cgroups.v1 import CgroupV1Manager, discover_hierarchies

ROOT = "/sys/fs/cgroup"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="requires root"),
    pytest.mark.skipif(is_v2(ROOT) or not os.path.isdir(f"{ROOT}/memory"),
                       reason="requires cgroup v1 with the memory hierarchy"),
]


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def mgr():
    parent = f"/hako-test-{os.getpid()}-{secrets.token_hex(3)}"
    manager = new_manager(f"{parent}/c1", "c1")
    assert isinstance(manager, CgroupV1Manager)
    try:
        yield manager
    finally:
        try:
            manager.destroy(timeout=10)
        finally:
            for hroot in set(discover_hierarchies(ROOT).values()):
                if os.path.isdir(hroot + parent):
                    base.rmdir_with_retry(hroot + parent, 10)


def _sleeper(procs, *extra):
    proc = subprocess.Popen(["sleep", "300", *extra])
    procs.append(proc)
    return proc


def _gated(procs, mgr, script):
    """Start ``sh -c script`` that waits for a line on stdin, move it in, then release it.

    Charges and children then happen inside the cgroup (v1 does not move old charges).
    """
    proc = subprocess.Popen(["sh", "-c", f"read _gate; {script}"], stdin=subprocess.PIPE)
    procs.append(proc)
    mgr.apply(proc.pid)
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    return proc


def test_apply_creates_every_hierarchy_and_moves_pid(mgr, procs):
    proc = _sleeper(procs)
    mgr.apply(proc.pid)
    assert mgr.pids() == [proc.pid]
    for name in ("memory", "cpu", "cpuacct", "pids", "freezer", "devices", "blkio", "cpuset"):
        d = mgr.dir_for(name)
        assert d and os.path.isdir(d), name
        assert proc.pid in base.read_procs(d)
        with open(f"/proc/{proc.pid}/cgroup") as fh:
            assert f"{mgr.path}\n" in fh.read()
    cpuset = mgr.dir_for("cpuset")
    assert base.read_value(cpuset, "cpuset.cpus") == base.read_value(f"{ROOT}/cpuset", "cpuset.cpus")
    assert base.read_value(cpuset, "cpuset.mems")


def test_set_limits_reads_back(mgr, procs):
    proc = _sleeper(procs)
    mgr.apply(proc.pid)
    mgr.set({
        "memory": {"limit": 64 << 20, "swap": 64 << 20, "reservation": 32 << 20, "swappiness": 10},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42},
    })
    mem, cpu, pids = mgr.dir_for("memory"), mgr.dir_for("cpu"), mgr.dir_for("pids")
    assert base.read_int(mem, "memory.limit_in_bytes") == 64 << 20
    assert base.read_int(mem, "memory.memsw.limit_in_bytes") == 64 << 20
    assert base.read_int(mem, "memory.soft_limit_in_bytes") == 32 << 20
    assert base.read_int(mem, "memory.swappiness") == 10
    assert base.read_int(cpu, "cpu.shares") == 512
    assert base.read_int(cpu, "cpu.cfs_quota_us") == 50000
    assert base.read_int(pids, "pids.max") == 42
    assert base.read_value(mgr.dir_for("cpuset"), "cpuset.cpus") == "0"
    assert mgr.warnings == []


def test_memory_raise_and_lower_with_swap_in_kernel_order(mgr, procs):
    proc = _sleeper(procs)
    mgr.apply(proc.pid)
    mem = mgr.dir_for("memory")
    mgr.set({"memory": {"limit": 20 << 20, "swap": 20 << 20}})
    mgr.set({"memory": {"limit": 100 << 20, "swap": 200 << 20}})  # raise: memsw first
    assert base.read_int(mem, "memory.limit_in_bytes") == 100 << 20
    assert base.read_int(mem, "memory.memsw.limit_in_bytes") == 200 << 20
    mgr.set({"memory": {"limit": 30 << 20, "swap": 30 << 20}})  # lower: limit first
    assert base.read_int(mem, "memory.limit_in_bytes") == 30 << 20
    assert base.read_int(mem, "memory.memsw.limit_in_bytes") == 30 << 20
    mgr.set({"memory": {"limit": -1}})  # unlimited takes swap along
    assert base.read_int(mem, "memory.limit_in_bytes") > 1 << 40


def test_invalid_value_is_invalid_argument(mgr, procs):
    mgr.apply(_sleeper(procs).pid)
    with pytest.raises(InvalidArgument):
        mgr.set({"cpu": {"quota": 100}})  # below the kernel's 1ms minimum


def test_freeze_and_thaw(mgr, procs):
    proc = _sleeper(procs)
    mgr.apply(proc.pid)
    mgr.freeze(timeout=10)
    assert base.read_value(mgr.dir_for("freezer"), "freezer.state") == "FROZEN"
    mgr.thaw(timeout=10)
    assert base.read_value(mgr.dir_for("freezer"), "freezer.state") == "THAWED"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM


def test_oom_kill_is_counted(mgr, procs):
    hog = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read(1); b = bytearray(200 * 1024 * 1024)"],
        stdin=subprocess.PIPE,
    )
    procs.append(hog)
    mgr.apply(hog.pid)
    mgr.set({"memory": {"limit": 20 << 20, "swap": 20 << 20}})
    assert mgr.oom_kill_count() == 0
    hog.stdin.write(b"x")
    hog.stdin.close()
    assert hog.wait(timeout=30) == -signal.SIGKILL
    assert mgr.oom_kill_count() > 0


def test_device_rules(mgr, procs):
    mgr.apply(_sleeper(procs).pid)
    mgr.set({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 136, "access": "rw"},
    ]})
    listed = base.read_value(mgr.dir_for("devices"), "devices.list").splitlines()
    assert set(listed) == {"c 1:3 rwm", "c 136:* rw"}


def test_stats_shape(mgr, procs):
    mgr.set({"memory": {"limit": 64 << 20}, "pids": {"limit": 100}})
    _gated(procs, mgr, "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; exec sleep 300")
    # Charges and CPU time show up once the released shell has run and been accounted.
    base.wait_for(lambda: mgr.stats()["memory_stats"]["usage"] > 0, 10, "memory charge")
    base.wait_for(lambda: mgr.stats()["cpu_stats"]["cpu_usage"]["total_usage"] > 0, 10, "cpu")
    st = mgr.stats()
    assert st["memory_stats"]["usage"] > 0
    assert st["memory_stats"]["limit"] == 64 << 20
    assert "rss" in st["memory_stats"]["stats"]
    assert st["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert len(st["cpu_stats"]["cpu_usage"]["percpu_usage"]) >= 1
    assert "throttled_periods" in st["cpu_stats"]["throttling_data"]
    assert st["pids_stats"] == {"current": 1, "limit": 100}
    assert isinstance(st["blkio_stats"]["io_service_bytes_recursive"], list)


def test_destroy_kills_leftovers_and_removes_dirs(mgr, procs):
    # A process that forks children: all of them must be killed before rmdir.
    mgr.set({"pids": {"limit": 10}})
    proc = _gated(procs, mgr, "sleep 300 & sleep 300 & wait")
    base.wait_for(lambda: len(mgr.pids()) == 3, 10, "children to start")
    mgr.destroy(timeout=10)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert all(not os.path.exists(mgr.dir_for(n)) for n in ("memory", "pids", "freezer"))
    mgr.destroy()  # idempotent
