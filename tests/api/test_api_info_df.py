"""/info and /system/df report what is true: measured sizes, the real storage driver and
backing filesystem, the cgroup features the host has, no volume or network drivers that
do not exist."""

from __future__ import annotations

import os

import pytest

from hako.daemon import sysinfo

pytestmark = pytest.mark.integration


def test_df_reports_real_sizes(hakod):
    status, body = hakod.api("POST", "/containers/create",
                             {"Image": "busybox", "Cmd": ["dd", "if=/dev/zero", "of=/blob", "bs=1M", "count=3"]})
    assert status == 201, body
    cid = body["Id"]
    try:
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        assert hakod.api("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 0
        status, df = hakod.api("GET", "/system/df")
        assert status == 200
        image_id = hakod.api("GET", "/images/busybox/json")[1]["Id"]
        image = next(i for i in df["Images"] if i["Id"] == image_id)
        assert image["Containers"] >= 1
        assert image["Size"] > 1_000_000  # the busybox layer, measured
        assert df["LayersSize"] >= image["Size"]
        listed = {i["Id"]: i["Size"] for i in hakod.api("GET", "/images/json", query={"all": "1"})[1]}
        assert df["LayersSize"] <= sum(listed.values())  # each layer counted once
        mine = next(c for c in df["Containers"] if c["Id"] == cid)
        assert mine["SizeRw"] >= 3 << 20
        assert mine["SizeRootFs"] >= mine["SizeRw"] + image["Size"]
        assert df["BuildCache"] == []
        assert all(v["UsageData"]["Size"] >= 0 for v in df["Volumes"])
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


def test_info_claims_only_what_is_true(hakod):
    info = hakod.api("GET", "/info")[1]
    graph = hakod.api("GET", "/images/busybox/json")[1]["GraphDriver"]["Name"]
    assert info["Driver"] == graph
    assert info["DriverStatus"][0][0] == "Backing Filesystem" and info["DriverStatus"][0][1] not in ("", "unknown")
    assert info["Plugins"]["Volume"] == ["local"]
    assert info["Plugins"]["Network"] == ["null"]
    # v1: the memory hierarchy's OOM switch; cgroup v2 has none
    assert info["OomKillDisable"] is os.path.exists("/sys/fs/cgroup/memory/memory.oom_control")
    for key, value in sysinfo.info_fields().items():
        assert info[key] is value, key
    assert info["SwapLimit"] == os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") or \
        os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert info["IPv4Forwarding"] is (f.read().strip() == "1")
    assert info["InitBinary"] == "" or os.path.exists(info["InitBinary"])


def test_docker_cli_system_df(hakod, docker_cli):
    from tests.daemon_harness import docker, out

    res = docker(hakod, docker_cli, "system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Size}}", check=True)
    rows = {line.split()[0]: line.split()[1:] for line in out(res).splitlines()}
    assert int(rows["Images"][0]) >= 1
    assert rows["Images"][1] not in ("0B", "0")
