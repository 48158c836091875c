"""CgroupV1Manager logic against a fake v1 root (plain dirs standing in for hierarchies)."""

from __future__ import annotations

import os

import pytest

from hako.runtime.cgroups import base
from hako.runtime.cgroups.detect import new_manager
from hako.runtime.cgroups.v1 import CgroupV1Manager, discover_hierarchies
from hako.runtime.cgroups.v1_controllers import device_rule_line


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def _read(path):
    with open(path) as fh:
        return fh.read()


@pytest.fixture
def root(tmp_path):
    r = str(tmp_path / "cg")
    for h in ("cpu,cpuacct", "memory", "pids", "cpuset", "freezer", "unified"):
        os.makedirs(f"{r}/{h}")
    os.symlink("cpu,cpuacct", f"{r}/cpu")
    os.symlink("cpu,cpuacct", f"{r}/cpuacct")
    _write(f"{r}/cpuset/cpuset.cpus", "0-3\n")
    _write(f"{r}/cpuset/cpuset.mems", "0\n")
    return r


def test_discover_folds_comounted_and_ignores_unified(root):
    found = discover_hierarchies(root)
    assert found["cpu"] == found["cpuacct"] == os.path.realpath(f"{root}/cpu,cpuacct")
    assert "unified" not in found
    assert set(found) == {"cpu", "cpuacct", "memory", "pids", "cpuset", "freezer"}


def test_detect_picks_v1_without_root_controllers(root):
    assert isinstance(new_manager("/hako/x", "x", root=root), CgroupV1Manager)


def test_apply_creates_one_dir_per_hierarchy_and_copies_cpuset(root):
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.apply(4321)
    for h in ("cpu,cpuacct", "memory", "pids", "cpuset", "freezer"):
        assert _read(f"{root}/{h}/hako/x/cgroup.procs") == "4321"
    for level in ("hako", "hako/x"):
        assert _read(f"{root}/cpuset/{level}/cpuset.cpus") == "0-3"
        assert _read(f"{root}/cpuset/{level}/cpuset.mems") == "0"
    assert mgr.pids() == [4321]


def test_swap_without_memsw_file_warns_and_is_ignored(root):
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.set({"memory": {"limit": 64 << 20, "swap": 128 << 20}})
    assert mgr.warnings == [base.SWAP_WARNING]
    d = mgr.dir_for("memory")
    assert _read(f"{d}/memory.limit_in_bytes") == str(64 << 20)
    assert not os.path.exists(f"{d}/memory.memsw.limit_in_bytes")


def test_memsw_written_when_present(root):
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.create()
    d = mgr.dir_for("memory")
    _write(f"{d}/memory.memsw.limit_in_bytes", "9223372036854771712\n")
    _write(f"{d}/memory.limit_in_bytes", "9223372036854771712\n")
    mgr.set({"memory": {"limit": 64 << 20, "swap": 128 << 20, "disableOOMKiller": True}})
    assert _read(f"{d}/memory.memsw.limit_in_bytes") == str(128 << 20)
    assert _read(f"{d}/memory.limit_in_bytes") == str(64 << 20)
    assert _read(f"{d}/memory.oom_control") == "1"
    assert mgr.warnings == []


def test_pids_limit_forms(root):
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.set({"pids": {"limit": 0}})
    assert not os.path.exists(f"{mgr.dir_for('pids')}/pids.max")
    mgr.set({"pids": {"limit": -1}})
    assert _read(f"{mgr.dir_for('pids')}/pids.max") == "max"


@pytest.mark.parametrize("rule,line", [
    ({"allow": False, "access": "rwm"}, "a *:* rwm"),
    ({"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}, "c 1:3 rwm"),
    ({"allow": True, "type": "b", "major": 8, "minor": None, "access": "r"}, "b 8:* r"),
])
def test_device_rule_line(rule, line):
    assert device_rule_line(rule) == line


def test_freezer_missing_is_unsupported(tmp_path):
    from hako.errors import Unsupported

    os.makedirs(tmp_path / "memory")
    mgr = CgroupV1Manager("/hako/x", root=str(tmp_path))
    with pytest.raises(Unsupported):
        mgr.freeze()


def test_oom_kill_count_from_oom_control(root):
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.create()
    _write(f"{mgr.dir_for('memory')}/memory.oom_control",
           "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert mgr.oom_kill_count() == 3


def test_rmdir_takes_the_sub_cgroups_the_container_made(tmp_path):
    """systemd in the container makes init.scope and system.slice/x.service below its
    cgroup: removal takes them deepest first instead of retrying EBUSY until the deadline."""
    from hako.runtime.cgroups import base

    top = tmp_path / "hako" / "abc"
    (top / "system.slice" / "x.service").mkdir(parents=True)
    (top / "init.scope").mkdir()
    base.rmdir_with_retry(str(top), timeout=0.5)
    assert not top.exists() and (tmp_path / "hako").exists()


def test_kernel_memory_limits_written_and_checked(root):
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.create()
    d = mgr.dir_for("memory")
    mgr.set({"memory": {"kernel": 64 << 20, "kernelTCP": 16 << 20}})
    assert _read(f"{d}/memory.kmem.limit_in_bytes") == str(64 << 20)
    assert _read(f"{d}/memory.kmem.tcp.limit_in_bytes") == str(16 << 20)


def test_kernel_memory_limit_the_kernel_ignores_is_refused(root, monkeypatch):
    """Since Linux 5.16 memory.kmem.limit_in_bytes takes writes and keeps "unlimited"."""
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.create()
    real = base.read_int
    monkeypatch.setattr(base, "read_int", lambda d, name, default=0: 9223372036854771712
                        if name == "memory.kmem.limit_in_bytes" else real(d, name, default))
    from hako.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="does not apply kernel memory limits"):
        mgr.set({"memory": {"kernel": 64 << 20}})
