"""create.check_resources: what the host's cgroups cannot apply is discarded with Docker's
warning (moby's verifyPlatformContainerResources), bad values are refused."""

from __future__ import annotations

import pytest

from hako.daemon.create import check_resources
from hako.errors import InvalidArgument

V1_NO_WEIGHT = {"MemorySwappiness": True, "OomKillDisable": True, "BlkioWeight": False,
                "BlkioWeightDevice": False, "BlkioReadBpsDevice": True, "BlkioWriteBpsDevice": True,
                "BlkioReadIOpsDevice": True, "BlkioWriteIOpsDevice": True}
V2 = {"MemorySwappiness": False, "OomKillDisable": False, "BlkioWeight": True,
      "BlkioWeightDevice": True, "BlkioReadBpsDevice": True, "BlkioWriteBpsDevice": True,
      "BlkioReadIOpsDevice": True, "BlkioWriteIOpsDevice": True}


def test_v2_discards_swappiness_and_the_oom_switch_with_dockers_warnings():
    hc = {"MemorySwappiness": 10, "OomKillDisable": True, "Memory": 64 << 20}
    assert check_resources(hc, V2) == [
        "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
        "Memory swappiness discarded.",
        "Your kernel does not support OomKillDisable. OomKillDisable discarded."]
    assert hc["MemorySwappiness"] is None and hc["OomKillDisable"] is False


def test_swappiness_minus_one_is_the_default_not_a_request():
    hc = {"MemorySwappiness": -1}
    assert check_resources(hc, V2) == []


def test_swappiness_zero_is_a_request():
    hc = {"MemorySwappiness": 0}
    assert check_resources(hc, V2)[0].startswith("Your kernel does not support memory swappiness")
    assert hc["MemorySwappiness"] is None
    hc = {"MemorySwappiness": 0}
    assert check_resources(hc, V1_NO_WEIGHT) == [] and hc["MemorySwappiness"] == 0


def test_update_does_not_repeat_the_oom_warning():
    assert check_resources({"OomKillDisable": True}, V1_NO_WEIGHT, update=True) == []


def test_blkio_weight_without_a_weighted_scheduler():
    hc = {"BlkioWeight": 300, "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 400}],
          "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1024}]}
    warnings = check_resources(hc, V1_NO_WEIGHT)
    assert warnings == [
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
        "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. "
        "Weight-device discarded."]
    assert hc["BlkioWeight"] == 0 and hc["BlkioWeightDevice"] == []
    assert hc["BlkioDeviceReadBps"] == [{"Path": "/dev/sda", "Rate": 1024}]  # kept: supported


def test_oom_switch_without_a_memory_limit_warns():
    assert check_resources({"OomKillDisable": True}, V1_NO_WEIGHT) == [
        "OOM killer is disabled for the container, but no memory limit is set, this can result "
        "in the system running out of resources."]


@pytest.mark.parametrize("hc,message", [
    ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"DeviceCgroupRules": ["c 1:3 rwx"]}, "invalid device cgroup rule format: 'c 1:3 rwx'"),
    ({"DeviceCgroupRules": ["c 1 rwm"]}, "invalid device cgroup rule format: 'c 1 rwm'"),
    ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rx"}]}, "invalid device mode: rx"),
    ({"Devices": [{"PathInContainer": "/dev/x"}]}, "PathOnHost is required"),
    ({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": -1}]}, "non-negative integer Rate"),
])
def test_bad_values_are_refused(hc, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace("*", r"\*")):
        check_resources(hc, {**V1_NO_WEIGHT, "BlkioWeight": True})
