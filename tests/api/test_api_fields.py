"""Fail closed: every create/update/build field is honoured or refused with 400 naming it.

One case per refused field (create, update, build query), the zero values clients send
(docker CLI, docker-py) still accepted, and the table checked against the v1.41 spec so a
field cannot be left out of it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hako.daemon import fields

SPEC = Path("/work/shared/specs/docker-engine-api-v1.41.yaml")

# (where, field, a value hako cannot honour)
REFUSED_CREATE = [
    ("HostConfig", "UsernsMode", "private"),
    ("HostConfig", "CgroupnsMode", "other"),
    ("HostConfig", "Cgroup", "container:abc"),
    ("HostConfig", "StorageOpt", {"size": "120G"}),
    ("HostConfig", "Isolation", "hyperv"),
    ("HostConfig", "MaskedPaths", []),
    ("HostConfig", "ReadonlyPaths", ["/proc"]),
    ("HostConfig", "DeviceRequests", [{"Driver": "nvidia", "Count": -1}]),
    ("HostConfig", "CpuRealtimePeriod", 1000),
    ("HostConfig", "CpuRealtimeRuntime", 500),
    ("HostConfig", "KernelMemory", 64 << 20),
    ("HostConfig", "KernelMemoryTCP", 64 << 20),
    ("HostConfig", "CpuCount", 2),
    ("HostConfig", "CpuPercent", 50),
    ("HostConfig", "IOMaximumIOps", 10),
    ("HostConfig", "IOMaximumBandwidth", 1024),
]


def _create(hakod, extra_config=None, host_config=None, networking=None):
    body = {"Image": "busybox", "Cmd": ["true"], **(extra_config or {})}
    if host_config is not None:
        body["HostConfig"] = host_config
    if networking is not None:
        body["NetworkingConfig"] = networking
    return hakod.api("POST", "/containers/create", body)


def _names(hakod):
    return {n for c in hakod.api("GET", "/containers/json", query={"all": "1"})[1] for n in c["Names"]}


@pytest.mark.integration
@pytest.mark.parametrize("where,field,value", REFUSED_CREATE,
                         ids=[f"{w or 'Config'}.{f}={v!r}"[:60] for w, f, v in REFUSED_CREATE])
def test_create_refuses_unimplemented_field(hakod, where, field, value):
    before = _names(hakod)
    if where:
        status, body = _create(hakod, host_config={field: value})
    else:
        status, body = _create(hakod, extra_config={field: value})
    assert status == 400, body
    named = f"{where}.{field}" if where else field
    assert body["message"].startswith(f"{named} is not supported yet ("), body
    assert _names(hakod) == before


@pytest.mark.integration
@pytest.mark.parametrize("host_config,message", [
    ({"LogConfig": {"Type": "json-file", "Config": {"foo": "1"}}},
     "unknown log opt 'foo' for json-file log driver"),
    ({"LogConfig": {"Type": "local", "Config": {"labels": "a"}}},
     "unknown log opt 'labels' for log driver local"),
    ({"LogConfig": {"Type": "syslog", "Config": {}}},
     "HostConfig.LogConfig.Type is not supported yet (the syslog log driver)"),
    ({"LogConfig": {"Type": "nosuch", "Config": {}}},
     'error looking up logging plugin nosuch: plugin "nosuch" not found'),
    ({"LogConfig": {"Type": "json-file", "Config": {"max-size": 1}}},
     "json: cannot unmarshal number into Go struct field LogConfig.HostConfig.LogConfig.Config of type string"),
])
def test_create_refuses_bad_log_config(hakod, host_config, message):
    status, body = _create(hakod, host_config=host_config)
    assert status == 400 and body["message"].startswith(message), body


@pytest.mark.integration
@pytest.mark.parametrize("networking,named", [
    ({"EndpointsConfig": {"mynet": {"DriverOpts": {"com.docker.network.endpoint.sysctls": "x"}}}},
     "NetworkingConfig.EndpointsConfig.mynet.DriverOpts.com.docker.network.endpoint.sysctls"),
])
def test_create_refuses_networking_config(hakod, networking, named):
    status, body = _create(hakod, networking=networking)
    assert status == 400 and body["message"].startswith(f"{named} is not supported yet"), body


@pytest.mark.integration
@pytest.mark.parametrize("networking,message", [
    ({"EndpointsConfig": {"bridge": {"Aliases": ["a"]}}},
     "network-scoped alias is supported only for containers in user defined networks"),
    ({"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}}},
     "user specified IP address is supported on user defined networks only"),
])
def test_default_bridge_refuses_aliases_and_addresses_at_start(hakod, networking, message):
    status, body = _create(hakod, networking=networking)
    assert status == 201, body
    try:
        status, reply = hakod.api("POST", f"/containers/{body['Id']}/start")
        assert status == 400 and reply["message"] == message, reply
    finally:
        hakod.api("DELETE", f"/containers/{body['Id']}", query={"force": "1"})


# What the docker CLI and docker-py send when no flag is given, and the values that match
# what hako does: accepted.
ZERO_HOST_CONFIG = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
    "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None,
    "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None,
    "GroupAdd": None, "IpcMode": "", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "",
    "Privileged": False, "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None,
    "UTSMode": "", "UsernsMode": "", "ShmSize": 0, "ConsoleSize": [0, 0], "Isolation": "",
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": [], "BlkioDeviceReadBps": None, "BlkioDeviceWriteBps": None,
    "BlkioDeviceReadIOps": None, "BlkioDeviceWriteIOps": None, "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "KernelMemory": 0,
    "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1,
    "OomKillDisable": False, "PidsLimit": None, "Ulimits": None, "CpuCount": 0, "CpuPercent": 0,
    "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
    "Mounts": [], "StorageOpt": {}, "DeviceRequest": None,
}


@pytest.mark.integration
@pytest.mark.parametrize("host_config", [
    ZERO_HOST_CONFIG,
    {"NetworkMode": "bridge"}, {"NetworkMode": "none"}, {"NetworkMode": "host"},
    {"Dns": ["192.0.2.53"]}, {"DnsSearch": ["example.com"]},
    {"DnsOptions": ["ndots:2"]}, {"IpcMode": "shareable"},
    {"IpcMode": "private"}, {"UsernsMode": "host"}, {"CgroupnsMode": "host"},
    {"Isolation": "default"}, {"LogConfig": {"Type": "none", "Config": None}},
    {"PidMode": "host"}, {"IpcMode": "host"}, {"IpcMode": "none"}, {"UTSMode": "host"},
])
def test_zero_and_honoured_values_are_accepted(hakod, host_config):
    status, body = _create(hakod, extra_config={
        "ExposedPorts": {}, "Volumes": {}, "MacAddress": "", "Healthcheck": {"Test": ["NONE"]},
        "NetworkDisabled": False}, host_config=host_config,
        networking={"EndpointsConfig": {"default": {"Aliases": None, "IPAMConfig": None}}})
    assert status == 201, body
    cid = body["Id"]
    try:
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        assert hakod.api("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 0
        hc = hakod.api("GET", f"/containers/{cid}/json")[1]["HostConfig"]
        assert hc["CgroupnsMode"] == "host"  # what hako gives, not a claim of "private"
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


REFUSED_UPDATE = [("BlkioWeight", 300), ("KernelMemory", 64 << 20), ("CpuRealtimePeriod", 1000),
                  ("CpuRealtimeRuntime", 500), ("MemorySwappiness", 10), ("OomKillDisable", True),
                  ("Devices", [{"PathOnHost": "/dev/null"}]), ("Ulimits", [{"Name": "nofile", "Soft": 1, "Hard": 1}]),
                  ("CgroupParent", "/x"), ("Init", True), ("DeviceCgroupRules", ["c 1:3 mr"])]


@pytest.mark.integration
@pytest.mark.parametrize("field,value", REFUSED_UPDATE)
def test_update_refuses_fields_it_would_not_apply(hakod, field, value):
    status, body = _create(hakod)
    cid = body["Id"]
    try:
        before = hakod.api("GET", f"/containers/{cid}/json")[1]["HostConfig"]
        status, body = hakod.api("POST", f"/containers/{cid}/update", {field: value, "CpuShares": 0})
        assert status == 400, body
        assert body["message"].startswith(f"{field} is not supported yet by update ("), body
        assert hakod.api("GET", f"/containers/{cid}/json")[1]["HostConfig"] == before
        status, body = hakod.api("POST", f"/containers/{cid}/update", {field: None, "CpuShares": 512})
        assert status == 200, body
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


def _ctx():
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"FROM busybox\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


REFUSED_BUILD = [("networkmode", "host"), ("networkmode", "container:abc"), ("pull", "1"),
                 ("squash", "1"), ("outputs", "type=local"), ("isolation", "hyperv")]


@pytest.mark.integration
@pytest.mark.parametrize("param,value", REFUSED_BUILD)
def test_build_refuses_ignored_query_params(hakod, param, value):
    status, body = hakod.api("POST", "/build", query={param: value, "t": "fields-refused"}, raw=_ctx())
    assert status == 400, body
    assert body["message"].startswith(f"{param}={value} is not supported yet ("), body
    assert hakod.api("GET", "/images/fields-refused/json")[0] == 404


@pytest.mark.integration
def test_build_resource_params_that_do_not_parse_are_refused(hakod):
    status, body = hakod.api("POST", "/build", query={"memory": "64m", "t": "fields-refused"}, raw=_ctx())
    assert status == 400 and body["message"] == 'strconv.ParseInt: parsing "64m": invalid syntax', body
    status, body = hakod.api("POST", "/build", query={"ulimits": '{"Name": "nofile"}', "t": "fields-refused"},
                             raw=_ctx())
    assert status == 400 and "ulimits must be a JSON array" in body["message"], body
    assert hakod.api("GET", "/images/fields-refused/json")[0] == 404


@pytest.mark.integration
def test_build_accepts_cli_zero_query(hakod):
    query = {"networkmode": "default", "pull": "0", "memory": "0", "memswap": "0", "cpushares": "0",
             "cpusetcpus": "", "cpuperiod": "0", "cpuquota": "0", "shmsize": "0", "squash": "false",
             "isolation": "", "t": "fields-ok", "rm": "1"}
    status, body = hakod.api("POST", "/build", query=query, raw=_ctx())
    assert status == 200, body
    assert hakod.api("GET", "/images/fields-ok/json")[0] == 200
    hakod.api("DELETE", "/images/fields-ok")


# -- the table against the spec ------------------------------------------------------------

def _spec_properties(definition: str, indent: int) -> set[str]:
    lines = SPEC.read_text().splitlines()
    start = lines.index(f"  {definition}:")
    found: set[str] = set()
    for line in lines[start + 1:]:
        if re.match(r"^  \S", line):
            break
        m = re.match(rf"^ {{{indent}}}([A-Z][A-Za-z0-9]*):\s*$", line)
        if m:
            found.add(m.group(1))
    return found


@pytest.mark.skipif(not SPEC.exists(), reason="the v1.41 spec (oracle) is not in ../shared/specs")
def test_table_covers_every_spec_field():
    config = _spec_properties("ContainerConfig", 6)
    host = _spec_properties("HostConfig", 10) | _spec_properties("Resources", 6)
    assert config and host
    assert not config - set(fields.CONFIG), "ContainerConfig fields missing from hako.daemon.fields"
    assert not host - set(fields.HOST_CONFIG), "HostConfig fields missing from hako.daemon.fields"


def test_every_refusal_names_a_feature():
    for table in (fields.CONFIG, fields.HOST_CONFIG, fields.BUILD_QUERY):
        for key, rule in table.items():
            assert rule == fields.HONOURED or (isinstance(rule, fields.Refuse) and rule.feature), key


@pytest.mark.integration
def test_annotations_are_stored_shown_and_reach_the_oci_spec(hakod):
    """HostConfig.Annotations (API 1.43): kept in the HostConfig, shown by inspect and written
    into the bundle's config.json, which the runtime and its hooks read."""
    import glob
    import os

    want = {"com.example.a": "1", "com.example.b": "x=y", "com.example.empty": ""}
    status, body = _create(hakod, {"Cmd": ["sleep", "30"]}, host_config={"Annotations": want})
    assert status == 201, body
    cid = body["Id"]
    try:
        assert hakod.api("GET", f"/containers/{cid}/json")[1]["HostConfig"]["Annotations"] == want
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        [spec] = glob.glob(os.path.join(hakod.root, "**", cid, "config.json"), recursive=True)
        with open(spec) as f:
            assert json.load(f)["annotations"] == want
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


@pytest.mark.integration
@pytest.mark.parametrize("annotations,message", [
    ({"": "a"}, "invalid Annotations: the empty string is not permitted as an annotation key"),
    ({"k": 1}, "HostConfig.Annotations"),
    (["k=v"], "HostConfig.Annotations"),
])
def test_bad_annotations_are_refused(hakod, annotations, message):
    status, body = _create(hakod, host_config={"Annotations": annotations})
    assert status == 400, body
    assert message in body["message"], body
