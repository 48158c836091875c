"""The v1 driver refuses limits whose hierarchy is absent; absent hierarchies nobody asked
anything of are fine. Sections no driver writes are refused on v1 and v2."""

from __future__ import annotations

import os

import pytest

from hako.runtime.cgroups import base
from hako.runtime.cgroups.v1 import CgroupV1Manager, requested_subsystems
from hako.runtime.cgroups.v2 import CgroupV2Manager


@pytest.fixture
def root(tmp_path):
    r = str(tmp_path / "cg")
    for h in ("cpu,cpuacct", "pids", "freezer", "devices"):
        os.makedirs(f"{r}/{h}")
    os.symlink("cpu,cpuacct", f"{r}/cpu")
    os.symlink("cpu,cpuacct", f"{r}/cpuacct")
    return r


@pytest.mark.parametrize("resources,missing", [
    ({"memory": {"limit": 64 << 20}}, "memory"),
    ({"memory": {"reservation": 1 << 20}}, "memory"),
    ({"memory": {"swappiness": 0}}, "memory"),
    ({"memory": {"disableOOMKiller": True}}, "memory"),
    ({"cpu": {"cpus": "0"}}, "cpuset"),
    ({"blockIO": {"weight": 300}}, "blkio"),
    ({"network": {"classID": 1}}, "net_cls"),
])
def test_limit_on_absent_hierarchy_is_an_error(root, resources, missing):
    mgr = CgroupV1Manager("/hako/x", root=root)
    with pytest.raises(base.CgroupError) as info:
        mgr.set(resources)
    assert missing in str(info.value) and "not mounted" in str(info.value)
    assert not os.path.exists(f"{root}/pids/hako/x")  # nothing created before refusing


def test_absent_devices_hierarchy_is_fatal_with_rules(tmp_path):
    r = str(tmp_path / "cg")
    os.makedirs(f"{r}/memory")
    mgr = CgroupV1Manager("/hako/x", root=r)
    with pytest.raises(base.CgroupError, match="devices"):
        mgr.set({"devices": [{"allow": False, "access": "rwm"}]})


def test_nothing_asked_of_absent_hierarchies_is_fine(root):
    mgr = CgroupV1Manager("/hako/x", root=root)
    mgr.set({"pids": {"limit": 10}, "cpu": {"shares": 512},
             "devices": [{"allow": False, "access": "rwm"}], "memory": {}})
    with open(f"{root}/pids/hako/x/pids.max") as f:
        assert f.read() == "10"


def test_requested_subsystems_zero_values_ask_nothing():
    assert requested_subsystems({"memory": {"limit": 0, "swappiness": None}, "cpu": {"shares": 0},
                                 "pids": {"limit": 0}, "blockIO": {}}) == []


@pytest.mark.parametrize("manager", ["v1", "v2"])
def test_hugepage_and_rdma_limits_are_refused(tmp_path, manager):
    r = str(tmp_path / "cg")
    os.makedirs(r)
    mgr = CgroupV1Manager("/hako/x", root=r) if manager == "v1" else CgroupV2Manager("/hako/x", root=r)
    with pytest.raises(base.CgroupError, match="hugepageLimits"):
        mgr.set({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]})
