"""Go-decoder type checks of a ``POST /containers/create`` body (layer 6, pure).

Docker decodes the body into typed Go structs, so a wrongly typed field is a 400
(``json: cannot unmarshal array into Go struct field ...``) before any policy runs. hako
keeps the body as JSON; without these checks such a field surfaced later as a Python
exception (a 500) at create or at start.
"""

from __future__ import annotations

from typing import Any

from hako.errors import InvalidArgument

# kind: "str", "bool", "int", "strs" ([]string), "strslice" (string or []string),
# "map" (object), "strmap" (map[string]string), "objs" ([]object)
_CONFIG: dict[str, str] = {
    "Image": "str", "Hostname": "str", "Domainname": "str", "User": "str", "WorkingDir": "str",
    "StopSignal": "str", "MacAddress": "str", "AttachStdin": "bool", "AttachStdout": "bool",
    "AttachStderr": "bool", "Tty": "bool", "OpenStdin": "bool", "StdinOnce": "bool",
    "NetworkDisabled": "bool", "Labels": "strmap", "ExposedPorts": "map", "Volumes": "map",
    "StopTimeout": "int", "Healthcheck": "map", "OnBuild": "strs", "Shell": "strslice",
    "Cmd": "strslice", "Entrypoint": "strslice", "Env": "strs",
}
_HOST: dict[str, str] = {
    "Binds": "strs", "Dns": "strs", "DnsOptions": "strs", "DnsSearch": "strs", "ExtraHosts": "strs",
    "GroupAdd": "strs", "SecurityOpt": "strs", "Links": "strs", "VolumesFrom": "strs",
    "CapAdd": "strslice", "CapDrop": "strslice", "PortBindings": "map", "RestartPolicy": "map",
    "LogConfig": "map", "Tmpfs": "strmap", "Sysctls": "strmap", "StorageOpt": "strmap",
    "Annotations": "strmap",
    "Ulimits": "objs", "Devices": "objs", "Mounts": "objs", "Privileged": "bool",
    "DeviceCgroupRules": "strs", "BlkioWeightDevice": "objs", "BlkioDeviceReadBps": "objs",
    "BlkioDeviceWriteBps": "objs", "BlkioDeviceReadIOps": "objs", "BlkioDeviceWriteIOps": "objs",
    "ReadonlyRootfs": "bool", "AutoRemove": "bool", "PublishAllPorts": "bool",
    "OomKillDisable": "bool", "Init": "bool", "NetworkMode": "str", "CgroupParent": "str",
    "Runtime": "str", "IpcMode": "str", "PidMode": "str", "UTSMode": "str", "UsernsMode": "str",
    "CpusetCpus": "str", "CpusetMems": "str", "Cgroup": "str",
    **{k: "int" for k in ("Memory", "MemorySwap", "MemoryReservation", "CpuShares", "CpuPeriod",
                          "CpuQuota", "NanoCpus", "BlkioWeight", "KernelMemory", "PidsLimit",
                          "OomScoreAdj", "ShmSize", "MemorySwappiness", "CpuRealtimePeriod",
                          "CpuRealtimeRuntime")},
}
_GO_TYPE = {"str": "string", "bool": "bool", "int": "int64", "strs": "[]string",
            "strslice": "strslice.StrSlice", "map": "map[string]interface {}",
            "strmap": "map[string]string", "objs": "[]struct", "dur": "time.Duration",
            "goint": "int"}
_HEALTH = {"Test": "strs", "Interval": "dur", "Timeout": "dur", "StartPeriod": "dur",
           "StartInterval": "dur", "Retries": "goint"}


def go_type(value: Any) -> str:
    """The JSON kind word Go's decoder names in its error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "value")


def _fits(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "dur", "goint"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "strslice" and isinstance(value, str):
        return True
    if kind in ("strs", "strslice"):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "strmap":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "objs":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return isinstance(value, dict)


def _check(obj: dict[str, Any], table: dict[str, str], where: str) -> None:
    for key, kind in table.items():
        value = obj.get(key)
        if value is not None and not _fits(kind, value):
            raise InvalidArgument(f"json: cannot unmarshal {go_type(value)} into Go struct field "
                                  f"{where}.{key} of type {_GO_TYPE[kind]}")


def check_create_body(body: dict[str, Any]) -> None:
    """Refuse wrongly typed fields of a create body as Docker's decoder does.

    Raises:
        InvalidArgument: ``json: cannot unmarshal <kind> into Go struct field <path> of type <T>``.
    """
    hc = body.get("HostConfig")
    if hc is not None and not isinstance(hc, dict):
        raise InvalidArgument(f"json: cannot unmarshal {go_type(hc)} into Go struct field "
                              "ContainerCreateRequest.HostConfig of type container.HostConfig")
    _check(body, _CONFIG, "ContainerCreateRequest")
    _check(hc or {}, _HOST, "HostConfig.HostConfig")
    for ulimit in (hc or {}).get("Ulimits") or []:
        _check(ulimit, {"Name": "str", "Soft": "int", "Hard": "int"}, "HostConfig.Ulimits")
    log = (hc or {}).get("LogConfig") or {}
    _check(log, {"Type": "str", "Config": "map"}, "LogConfig.HostConfig.LogConfig")
    for value in (log.get("Config") or {}).values():
        if not isinstance(value, str):
            raise InvalidArgument(f"json: cannot unmarshal {go_type(value)} into Go struct field "
                                  "LogConfig.HostConfig.LogConfig.Config of type string")
    policy = (hc or {}).get("RestartPolicy") or {}
    _check(policy, {"Name": "str", "MaximumRetryCount": "int"}, "HostConfig.RestartPolicy")
    wd = body.get("WorkingDir")
    if wd and not wd.startswith("/"):
        raise InvalidArgument(f"the working directory '{wd}' is invalid, it needs to be an absolute path")
    if isinstance(body.get("Healthcheck"), dict):
        _check(body["Healthcheck"], _HEALTH, "ContainerCreateRequest.Healthcheck")
