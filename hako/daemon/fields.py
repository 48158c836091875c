"""THE table of Engine API request fields: each one is honoured, or refused with a 400 naming it.

Fail closed: a field the API accepts but hako does not implement is never stored and
silently ignored. Every field of the v1.41 ``ContainerConfig``, ``HostConfig`` (with
``Resources``), ``NetworkingConfig``, ``ContainerUpdateRequest`` and the ``POST /build``
query is listed here (a test checks the table against the spec). A field is either
``HONOURED`` or a ``Refuse`` rule: its zero value (``null``, ``""``, ``0``, ``false``,
``[]``, ``{}``; the docker CLI and docker-py send many) and the values listed in ``ok`` are
accepted, anything else is ``InvalidArgument`` (HTTP 400)::

    HostConfig.PidMode is not supported yet (PID modes host and container: only private namespaces are implemented)

Networking: ``default``/``bridge`` (the default bridge), ``none``, ``host`` and
``container:<id>`` are honoured (``daemon/netsetup.py``), and published ports, legacy
links and endpoint settings (``check_endpoint``, also for ``network connect``); user-defined
networks live in ``hako/network``.

Unknown fields (not in the API) are ignored, as Go's JSON decoder does.

Layer: daemon (6). May import: errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from hako.errors import InvalidArgument

HONOURED = "honoured"

_NO_NS = "only private namespaces are implemented"


@dataclass(frozen=True)
class Refuse:
    """Refuse non-zero values except those in ``ok`` (or accepted by ``accept``)."""

    feature: str
    ok: tuple[Any, ...] = ()
    accept: Callable[[Any], bool] | None = None
    null_only: bool = False  # [] is meaningful (MaskedPaths [] unmasks everything)

    def allows(self, value: Any) -> bool:
        if self.null_only:
            return value is None
        if is_zero(value) or value in self.ok:
            return True
        return bool(self.accept and self.accept(value))


def is_zero(value: Any) -> bool:
    """Go's zero values as JSON shows them."""
    return value is None or value is False or value == 0 or value == "" or value == [] or value == {}


# ContainerConfig (the create body's top level)
CONFIG: dict[str, Any] = {
    "Hostname": HONOURED, "Domainname": HONOURED, "User": HONOURED, "AttachStdin": HONOURED,
    "AttachStdout": HONOURED, "AttachStderr": HONOURED, "Tty": HONOURED, "OpenStdin": HONOURED,
    "StdinOnce": HONOURED, "Env": HONOURED, "Cmd": HONOURED, "Image": HONOURED,
    "WorkingDir": HONOURED, "Entrypoint": HONOURED, "Labels": HONOURED, "StopSignal": HONOURED,
    "StopTimeout": HONOURED, "OnBuild": HONOURED, "Shell": HONOURED,
    # metadata in Docker too: without published ports or links it changes nothing at run time
    "ExposedPorts": HONOURED,
    "ArgsEscaped": HONOURED,  # Windows only; Docker ignores it on Linux
    "NetworkDisabled": HONOURED,  # the container has no external network either way
    "Healthcheck": HONOURED,  # run by daemon/health_monitor.py (StartInterval: API >= 1.44)
    "Volumes": HONOURED,  # anonymous volumes (daemon/mounts.py)
    "MacAddress": HONOURED,  # the container's eth0 (bridge mode)
}

# HostConfig; the embedded Resources are added below
HOST_CONFIG: dict[str, Any] = {
    "Binds": HONOURED,  # bind mounts and named/anonymous volumes (daemon/mounts.py)
    "ContainerIDFile": HONOURED,  # written by the client
    "LogConfig": HONOURED,  # json-file, local or none with their options (daemon/logconfig.py)
    # default/bridge, none, host, container:<id>; others are unknown networks (404, netsetup)
    "NetworkMode": HONOURED,
    "PortBindings": HONOURED,  # bridge mode: proxy + DNAT (network/service.py)
    "RestartPolicy": HONOURED, "AutoRemove": HONOURED,
    "VolumeDriver": HONOURED,  # "local" only; another driver is Docker's plugin-not-found
    "VolumesFrom": HONOURED, "Mounts": HONOURED,
    "CapAdd": HONOURED, "CapDrop": HONOURED,
    # host (Docker's default on a cgroup v1 host) or private
    "CgroupnsMode": Refuse("cgroup namespace modes other than host and private", ok=("host", "private")),
    "Dns": HONOURED, "DnsOptions": HONOURED, "DnsSearch": HONOURED,
    "ExtraHosts": HONOURED, "GroupAdd": HONOURED,
    # private, shareable (/dev/shm a tmpfs mounted by hakod, which others can join), host,
    # none, container:<name|id> (joined at start, as Docker)
    "IpcMode": HONOURED,
    "Cgroup": Refuse(f"joining another container's cgroup: {_NO_NS}"),
    "Links": HONOURED,  # legacy links on the default bridge; on a user network the endpoint's
    "OomScoreAdj": HONOURED,
    # host, or container:<name|id> (joined at start, as Docker; checked at create)
    "PidMode": HONOURED,
    "Privileged": HONOURED,
    "PublishAllPorts": HONOURED,
    "ReadonlyRootfs": HONOURED, "SecurityOpt": HONOURED,
    "StorageOpt": Refuse("storage options (size): the overlay snapshotter has no quotas"),
    "Tmpfs": HONOURED,
    "UTSMode": Refuse("UTS modes other than host", ok=("host",)),
    # no user-namespace remapping exists, so "host" is what every container gets
    "UsernsMode": Refuse("user namespace modes other than host", ok=("host",)),
    "ShmSize": HONOURED, "Sysctls": HONOURED, "Runtime": HONOURED,
    "Annotations": HONOURED,  # API 1.43: the OCI spec's annotations (daemon/bundle.py)
    "ConsoleSize": HONOURED,  # the pty is sized by the client's resize, as Docker 20.10
    "Isolation": Refuse("isolation other than default (Linux has only that)", ok=("default",)),
    "MaskedPaths": Refuse("custom masked paths (security-opt systempaths)", null_only=True),
    "ReadonlyPaths": Refuse("custom read-only paths (security-opt systempaths)", null_only=True),
}

RESOURCES: dict[str, Any] = {
    "CpuShares": HONOURED, "Memory": HONOURED, "CgroupParent": HONOURED,
    # blkio: applied where the host's cgroups can, else discarded with Docker's warning
    # (create.check_resources)
    "BlkioWeight": HONOURED, "BlkioWeightDevice": HONOURED, "BlkioDeviceReadBps": HONOURED,
    "BlkioDeviceWriteBps": HONOURED, "BlkioDeviceReadIOps": HONOURED, "BlkioDeviceWriteIOps": HONOURED,
    "CpuPeriod": HONOURED, "CpuQuota": HONOURED,
    "CpuRealtimePeriod": Refuse("CPU realtime scheduling"),
    "CpuRealtimeRuntime": Refuse("CPU realtime scheduling"),
    "CpusetCpus": HONOURED, "CpusetMems": HONOURED,
    "Devices": HONOURED, "DeviceCgroupRules": HONOURED,
    "DeviceRequests": Refuse("device requests (GPUs)"),
    "KernelMemory": Refuse("kernel memory limits"),
    "KernelMemoryTCP": Refuse("kernel TCP memory limits"),
    "MemoryReservation": HONOURED, "MemorySwap": HONOURED,
    "MemorySwappiness": HONOURED,
    "NanoCpus": HONOURED,
    "OomKillDisable": HONOURED,
    "Init": HONOURED, "PidsLimit": HONOURED, "Ulimits": HONOURED,
    "CpuCount": Refuse("CPU count (Windows only)"),
    "CpuPercent": Refuse("CPU percent (Windows only)"),
    "IOMaximumIOps": Refuse("maximum IOps (Windows only)"),
    "IOMaximumBandwidth": Refuse("maximum bandwidth (Windows only)"),
}
HOST_CONFIG.update(RESOURCES)

# POST /containers/{id}/update: Resources + RestartPolicy; honoured = applied to the record
# and, when running, to the cgroup (daemon/resources.py)
UPDATE_HONOURED = {"CpuShares", "Memory", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems",
                   "MemoryReservation", "MemorySwap", "NanoCpus", "PidsLimit", "RestartPolicy"}
_UPDATE_FEATURE = "changing it on an existing container"

# POST /build query parameters
BUILD_QUERY: dict[str, Any] = {
    "dockerfile": HONOURED, "t": HONOURED, "extrahosts": HONOURED, "remote": HONOURED,
    "q": HONOURED, "nocache": HONOURED, "cachefrom": HONOURED, "rm": HONOURED,
    "forcerm": HONOURED, "buildargs": HONOURED, "labels": HONOURED, "target": HONOURED,
    "platform": HONOURED,
    # default, bridge, none and user-defined networks (their embedded DNS included)
    "networkmode": Refuse("build network modes host and container:",
                          accept=lambda v: v != "host" and not str(v).startswith("container:")),
    "pull": Refuse("pulling base images during a build (the builder does not pull yet; pull them first)"),
    # the step containers' resources (routes/build.py build_resources), checked as a create's
    "memory": HONOURED, "memswap": HONOURED, "cpushares": HONOURED, "cpusetcpus": HONOURED,
    "cpuperiod": HONOURED, "cpuquota": HONOURED, "cpusetmems": HONOURED,
    "cgroupparent": HONOURED, "ulimits": HONOURED, "shmsize": HONOURED,
    "squash": Refuse("squash (experimental in Docker)"),
    "outputs": Refuse("outputs (BuildKit only)"),
    "isolation": Refuse("isolation other than default", ok=("default",)),
}

_STRING_PARAMS = {"networkmode", "cpusetcpus", "cpusetmems", "cgroupparent", "outputs", "isolation"}  # "0" is a value there



def _refuse(where: str, rule: Refuse) -> InvalidArgument:
    return InvalidArgument(f"{where} is not supported yet ({rule.feature})")


def _check_table(obj: dict[str, Any], table: dict[str, Any], prefix: str) -> None:
    for key, rule in table.items():
        if isinstance(rule, Refuse) and key in obj and not rule.allows(obj[key]):
            raise _refuse(f"{prefix}{key}", rule)


# EndpointSettings fields a client may send (hako/network/endpoints.py checks their values);
# the rest of the struct is inspect's output and ignored on input, as by dockerd
_ENDPOINT_HONOURED = {"Aliases", "IPAMConfig", "Links", "MacAddress", "DriverOpts", "NetworkID",
                      "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway",
                      "GlobalIPv6Address", "GlobalIPv6PrefixLen"}
_IPAM_HONOURED = {"IPv4Address", "IPv6Address", "LinkLocalIPs"}


def check_endpoint(where: str, settings: Any) -> None:
    """Refuse the fields of one ``EndpointSettings`` hako would ignore (``where`` names it:
    ``NetworkingConfig.EndpointsConfig.<net>`` or ``EndpointConfig``).

    Raises:
        InvalidArgument: naming the field.
    """
    if not isinstance(settings, dict):
        return  # the type check (wiretypes) owns malformed values
    for key, value in settings.items():
        if key == "IPAMConfig" and isinstance(value, dict):
            extra = {k: v for k, v in value.items() if k not in _IPAM_HONOURED and not is_zero(v)}
            if extra:
                raise InvalidArgument(f"{where}.IPAMConfig.{sorted(extra)[0]} is not supported yet "
                                      f"(endpoint address options of newer APIs)")
        elif key == "DriverOpts" and isinstance(value, dict):
            for opt in value:  # meaningful to newer dockerd's bridge driver; others mean nothing
                if str(opt).startswith("com.docker.network."):
                    raise InvalidArgument(f"{where}.DriverOpts.{opt} is not supported yet (endpoint "
                                          f"options of newer Docker bridge drivers)")
        elif key not in _ENDPOINT_HONOURED and not is_zero(value):
            raise InvalidArgument(f"{where}.{key} is not supported yet (endpoint {key} on a network)")


def _check_networking(body: dict[str, Any]) -> None:
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    if not isinstance(endpoints, dict):
        return  # the type check (wiretypes) owns malformed values
    for name, settings in endpoints.items():
        check_endpoint(f"NetworkingConfig.EndpointsConfig.{name}", settings or {})


def check_create(body: dict[str, Any]) -> None:
    """Refuse every create-body field hako would otherwise ignore.

    Raises:
        InvalidArgument: ``<Section>.<Field> is not supported yet (<feature>)``.
    """
    _check_table(body, CONFIG, "")
    hc = body.get("HostConfig") or {}
    if isinstance(hc, dict):
        _check_table(hc, HOST_CONFIG, "HostConfig.")
    _check_networking(body)


def check_update(body: dict[str, Any]) -> None:
    """Refuse update fields that would be stored but never applied.

    Raises:
        InvalidArgument: naming the field.
    """
    for key, value in body.items():
        if key in RESOURCES and key not in UPDATE_HONOURED and not is_zero(value):
            rule = RESOURCES[key]
            feature = rule.feature if isinstance(rule, Refuse) else _UPDATE_FEATURE
            raise InvalidArgument(f"{key} is not supported yet by update ({feature})")


def check_build_query(query: dict[str, str]) -> None:
    """Refuse ``POST /build`` parameters the builder would ignore. Query values are
    strings: "0", "false" and "" are their zero values.

    Raises:
        InvalidArgument: naming the parameter.
    """
    for key, rule in BUILD_QUERY.items():
        value = query.get(key)
        if not isinstance(rule, Refuse) or value is None:
            continue
        zeros = ("",) if key in _STRING_PARAMS else ("", "0", "false", "no", "off", "null", "{}", "[]")
        if value.strip().lower() in zeros or rule.allows(value):
            continue
        raise InvalidArgument(f"{key}={value} is not supported yet ({rule.feature})")
