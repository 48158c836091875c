"""CgroupV2Manager against a fake cgroupfs root (a plain temp dir).

The fake root holds the files the kernel would show; writes land in plain files, so each
test reads back what the driver wrote. The kernel's reactions (frozen, emptied) are
simulated by the test writing cgroup.events / cgroup.procs.
"""

from __future__ import annotations

import os
import threading

import pytest

from hako.errors import InvalidArgument, Unsupported
from hako.runtime.cgroups import base
from hako.runtime.cgroups.detect import is_v2, new_manager
from hako.runtime.cgroups.v2 import CgroupV2Manager


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def _read(path):
    with open(path) as fh:
        return fh.read()


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "cgroup"
    _write(str(r / "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n")
    _write(str(r / "cgroup.subtree_control"), "")
    return str(r)


def _mgr(root, path="/hako/abc"):
    mgr = new_manager(path, "abc", root=root)
    assert isinstance(mgr, CgroupV2Manager)
    return mgr


def test_detect_picks_v2_only_with_root_controllers(root, tmp_path):
    assert is_v2(root)
    assert not is_v2(str(tmp_path))
    assert _mgr(root).path == "/hako/abc"
    assert new_manager("", "xyz", root=root).path == "/hako/xyz"


def test_detect_rejects_systemd_paths(root):
    with pytest.raises(Unsupported):
        new_manager("system.slice:docker:abc", "abc", root=root)


@pytest.mark.parametrize("path", ["/hako/../etc", "/", "", "a/./b"])
def test_bad_paths_rejected(root, path):
    with pytest.raises(InvalidArgument):
        CgroupV2Manager(path, root=root) if path else CgroupV2Manager("", root=root)


def test_apply_enables_controllers_on_ancestors_and_moves_pid(root):
    # The intermediate dir already exists with its own controllers file.
    _write(f"{root}/hako/cgroup.controllers", "cpu memory pids\n")
    _write(f"{root}/hako/cgroup.subtree_control", "memory\n")
    mgr = _mgr(root)
    mgr.apply(1234)
    assert _read(f"{root}/cgroup.subtree_control") == "+cpuset +cpu +io +memory +pids +hugetlb +misc"
    assert _read(f"{root}/hako/cgroup.subtree_control") == "+cpu +pids"
    assert _read(f"{root}/hako/abc/cgroup.procs") == "1234"
    assert mgr.pids() == [1234]


@pytest.mark.parametrize("shares,weight", [(2, 1), (1024, 39), (262144, 10000), (512, 20)])
def test_shares_to_weight(shares, weight):
    assert base.shares_to_weight(shares) == weight


def test_set_cpu_memory_pids(root):
    mgr = _mgr(root)
    mgr.create()
    d = mgr.directory
    _write(f"{d}/memory.swap.max", "max\n")
    mgr.set({
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "memory": {"limit": 100 << 20, "swap": 300 << 20, "reservation": 50 << 20,
                   "swappiness": 10, "kernel": 1},
        "pids": {"limit": 64},
    })
    assert _read(f"{d}/cpu.weight") == "39"
    assert _read(f"{d}/cpu.max") == "50000 100000"
    assert _read(f"{d}/cpuset.cpus") == "0-1"
    assert _read(f"{d}/cpuset.mems") == "0"
    assert _read(f"{d}/memory.max") == str(100 << 20)
    assert _read(f"{d}/memory.swap.max") == str(200 << 20)
    assert _read(f"{d}/memory.low") == str(50 << 20)
    assert _read(f"{d}/pids.max") == "64"
    assert not os.path.exists(f"{d}/memory.swappiness")
    assert mgr.warnings == []


@pytest.mark.parametrize("cpu,expected", [
    ({"quota": 20000}, "20000 100000"),
    ({"quota": -1, "period": 50000}, "max 50000"),
    ({"period": 10000}, "max 10000"),
])
def test_cpu_max_forms(root, cpu, expected):
    mgr = _mgr(root)
    mgr.set({"cpu": cpu})
    assert _read(f"{mgr.directory}/cpu.max") == expected


def test_unlimited_memory_and_pids(root):
    mgr = _mgr(root)
    mgr.create()
    _write(f"{mgr.directory}/memory.swap.max", "0\n")
    mgr.set({"memory": {"limit": -1, "swap": -1}, "pids": {"limit": -1}})
    assert _read(f"{mgr.directory}/memory.max") == "max"
    assert _read(f"{mgr.directory}/memory.swap.max") == "max"
    assert _read(f"{mgr.directory}/pids.max") == "max"


def test_swap_without_swap_accounting_warns_and_skips(root):
    mgr = _mgr(root)
    mgr.set({"memory": {"limit": 100 << 20, "swap": 200 << 20}})
    assert mgr.warnings == [base.SWAP_WARNING]
    assert _read(f"{mgr.directory}/memory.max") == str(100 << 20)


def test_device_rules_are_skipped_with_warning(root):
    mgr = _mgr(root)
    mgr.set({"devices": [{"allow": False, "access": "rwm"}]})
    assert mgr.warnings == []
    mgr.set({"devices": [{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    assert mgr.warnings == [base.DEVICES_V2_WARNING]


def test_io_weight_and_throttle(root):
    mgr = _mgr(root)
    mgr.set({"blockIO": {"weight": 500,
                         "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]}})
    assert _read(f"{mgr.directory}/io.weight") == str(1 + (490 * 9999) // 990)
    assert _read(f"{mgr.directory}/io.max") == "8:0 rbps=1048576"


def test_unified_keys_written_and_checked(root):
    mgr = _mgr(root)
    mgr.set({"unified": {"memory.high": "1000000"}})
    assert _read(f"{mgr.directory}/memory.high") == "1000000"
    with pytest.raises(InvalidArgument):
        mgr.set({"unified": {"../escape": "1"}})


def test_freeze_waits_for_events(root):
    mgr = _mgr(root)
    mgr.create()
    _write(f"{mgr.directory}/cgroup.events", "populated 1\nfrozen 0\n")
    kernel = threading.Timer(0.05, _write, (f"{mgr.directory}/cgroup.events", "populated 1\nfrozen 1\n"))
    kernel.start()
    try:
        mgr.freeze(timeout=5)
    finally:
        kernel.join()
    assert _read(f"{mgr.directory}/cgroup.freeze") == "1"
    _write(f"{mgr.directory}/cgroup.events", "populated 1\nfrozen 0\n")
    mgr.thaw(timeout=5)
    assert _read(f"{mgr.directory}/cgroup.freeze") == "0"


def test_freeze_times_out(root):
    mgr = _mgr(root)
    mgr.create()
    _write(f"{mgr.directory}/cgroup.events", "populated 1\nfrozen 0\n")
    with pytest.raises(base.CgroupError, match="timeout"):
        mgr.freeze(timeout=0.05)


def test_destroy_uses_cgroup_kill_then_rmdir(root, monkeypatch):
    mgr = _mgr(root)
    mgr.apply(99999999)
    d = mgr.directory
    _write(f"{d}/cgroup.kill", "")
    # A fake dir cannot be rmdir'ed while it holds files, so stand in for the kernel:
    # os.rmdir of a cgroup removes its control files with it. (Patched: no kernel here.)
    real_rmdir = os.rmdir

    def kernel_rmdir(path):
        assert _read(f"{path}/cgroup.kill") == "1"
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        real_rmdir(path)

    def kill_happened():
        _write(f"{d}/cgroup.procs", "")

    kill_timer = threading.Timer(0.02, kill_happened)
    kill_timer.start()
    monkeypatch.setattr(os, "rmdir", kernel_rmdir)
    try:
        mgr.destroy(timeout=5)
    finally:
        kill_timer.join()
    assert not os.path.exists(d)
    mgr.destroy(timeout=1)  # gone already: no-op


def test_oom_kill_count_and_stats(root):
    mgr = _mgr(root)
    mgr.create()
    d = mgr.directory
    _write(f"{d}/memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")
    _write(f"{d}/memory.current", "1048576\n")
    _write(f"{d}/memory.max", "max\n")
    _write(f"{d}/memory.stat", "anon 4096\nfile 8192\n")
    _write(f"{d}/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                            "nr_periods 4\nnr_throttled 1\nthrottled_usec 20\n")
    _write(f"{d}/pids.current", "3\n")
    _write(f"{d}/pids.max", "50\n")
    _write(f"{d}/io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
    assert mgr.oom_kill_count() == 2
    st = mgr.stats()
    assert st["cpu_stats"]["cpu_usage"] == {"total_usage": 1500000, "usage_in_usermode": 1000000,
                                            "usage_in_kernelmode": 500000}
    assert st["cpu_stats"]["throttling_data"] == {"periods": 4, "throttled_periods": 1,
                                                  "throttled_time": 20000}
    assert st["memory_stats"] == {"usage": 1048576, "limit": 0,
                                  "stats": {"anon": 4096, "file": 8192}}
    assert st["pids_stats"] == {"current": 3, "limit": 50}
    assert st["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 100},
        {"major": 8, "minor": 0, "op": "write", "value": 200},
    ]
