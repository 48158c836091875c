"""The rest of docker's ``run``/``create`` flags: block I/O, CPU realtime, device rules,
storage options, annotations, endpoint addresses, Windows-only resources, and the long
syntax of ``--network`` (``name=NET,alias=A,ip=…,driver-opt=K=V``).

Each one is sent as docker sends it; hakod honours the field or refuses it with a 400 naming
it (daemon/fields.py), so no flag is accepted and ignored. ``--disable-content-trust`` is the
client's (content trust is off, as docker's default; turning it on is refused here).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from hako.cli.parsing import Parser, check_trust, go_int
from hako.errors import InvalidArgument
from hako.opts import resources


def _size(text: str) -> int:
    try:
        return resources.parse_memory(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _device_rate(kind: str):
    """``PATH:RATE`` (bytes with units for bps, a number for iops) → {"Path", "Rate"}."""
    def conv(text: str) -> dict[str, Any]:
        path, sep, rate = text.rpartition(":")
        if not sep or not path.startswith("/dev/"):
            raise argparse.ArgumentTypeError(f"bad format: {text}")
        try:
            value = int(rate) if kind == "iops" else resources.parse_memory(rate)
        except (InvalidArgument, ValueError):
            raise argparse.ArgumentTypeError(
                f"invalid rate for device: {text}. The correct format is <device-path>:<number>"
                + ("" if kind == "iops" else "[<unit>]. Number must be a positive integer. "
                   "Unit is optional and can be kb, mb, or gb")) from None
        return {"Path": path, "Rate": value}
    conv.__name__ = kind
    return conv


def _weight_device(text: str) -> dict[str, Any]:
    path, sep, weight = text.rpartition(":")
    if not sep or not path.startswith("/dev/") or not weight.isdigit() or \
            not (10 <= int(weight) <= 1000 or int(weight) == 0):
        raise argparse.ArgumentTypeError(f"invalid weight for device: {text}")
    return {"Path": path, "Weight": int(weight)}


def _key_value(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"bad format for key=value: {text}")
    return text


def add_extra_run_flags(p: Parser) -> None:
    """Declare the flags of this module on a run/create parser."""
    p.multi("--annotation", type=_key_value)
    p.option("--blkio-weight", type=go_int)
    p.multi("--blkio-weight-device", type=_weight_device)
    p.option("--cgroup-parent")
    p.option("--cgroupns")
    p.option("--cpu-count", type=go_int)
    p.option("--cpu-percent", type=go_int)
    p.option("--cpu-period", type=go_int)
    p.option("--cpu-quota", type=go_int)
    p.option("--cpu-rt-period", type=go_int)
    p.option("--cpu-rt-runtime", type=go_int)
    p.multi("--device-cgroup-rule")
    p.multi("--device-read-bps", type=_device_rate("bps"))
    p.multi("--device-read-iops", type=_device_rate("iops"))
    p.multi("--device-write-bps", type=_device_rate("bps"))
    p.multi("--device-write-iops", type=_device_rate("iops"))
    p.content_trust()
    p.option("--io-maxbandwidth", type=_size)
    p.option("--io-maxiops", type=go_int)
    p.option("--isolation")
    p.option("--kernel-memory", type=_size)
    p.option("--memory-swappiness", type=go_int, default=-1)
    p.multi("--storage-opt", type=_key_value)
    p.option("--systemd", help="Run in systemd mode: true (when the command is an init), "
             "false or always, as podman (the label io.hako.systemd)")
    p.option("--volume-driver")


# dest → HostConfig field, sent when the flag was given
_HOST_FIELDS = {"blkio_weight": "BlkioWeight", "cgroup_parent": "CgroupParent",
                "cgroupns": "CgroupnsMode", "cpu_count": "CpuCount", "cpu_percent": "CpuPercent",
                "cpu_period": "CpuPeriod", "cpu_quota": "CpuQuota",
                "cpu_rt_period": "CpuRealtimePeriod", "cpu_rt_runtime": "CpuRealtimeRuntime",
                "io_maxbandwidth": "IOMaximumBandwidth", "io_maxiops": "IOMaximumIOps",
                "isolation": "Isolation", "kernel_memory": "KernelMemory",
                "volume_driver": "VolumeDriver"}
_HOST_LISTS = {"blkio_weight_device": "BlkioWeightDevice",
               "device_cgroup_rule": "DeviceCgroupRules",
               "device_read_bps": "BlkioDeviceReadBps", "device_read_iops": "BlkioDeviceReadIOps",
               "device_write_bps": "BlkioDeviceWriteBps",
               "device_write_iops": "BlkioDeviceWriteIOps"}


def extra_host_config(opts: argparse.Namespace) -> dict[str, Any]:
    """HostConfig fields of the flags given.

    Raises:
        InvalidArgument: content trust was asked for.
    """
    check_trust(opts)
    host = {f: getattr(opts, d) for d, f in _HOST_FIELDS.items() if getattr(opts, d) is not None}
    host.update({f: getattr(opts, d) for d, f in _HOST_LISTS.items() if getattr(opts, d)})
    if opts.memory_swappiness != -1:
        host["MemorySwappiness"] = opts.memory_swappiness
    if opts.storage_opt:
        host["StorageOpt"] = dict(s.partition("=")[::2] for s in opts.storage_opt)
    if opts.annotation:
        host["Annotations"] = dict(s.partition("=")[::2] for s in opts.annotation)
    return host


_LONG_NETWORK = re.compile(r"\w+=\w+(,\w+=\w+)*")  # docker's test for the long syntax
_NETWORK_KEYS = {"alias": "Aliases", "ip": "IPv4Address", "ip6": "IPv6Address",
                 "mac-address": "MacAddress", "link-local-ip": "LinkLocalIPs"}


def parse_network(text: str) -> tuple[str, dict[str, Any]]:
    """``--network``: the network, and the endpoint settings of its long syntax (fields
    lowercased, as the docker CLI does).

    Raises:
        ValueError: docker's text for a malformed long syntax.
    """
    if not _LONG_NETWORK.search(text):
        return text, {}
    import csv

    target, found, opts = "", {}, {}
    for item in next(csv.reader([text]), []):
        key, sep, value = item.lower().partition("=")
        if not sep or not key:
            raise ValueError(f"invalid field {item}")
        key, value = key.strip(), value.strip()
        if key == "name":
            target = value
        elif key == "driver-opt":
            k, sep, v = value.partition("=")
            if not sep or not k:
                raise ValueError("invalid key value pair format in driver options")
            opts[k.strip()] = v.strip()
        elif key in ("alias", "link-local-ip"):
            found.setdefault(_NETWORK_KEYS[key], []).append(value)
        elif key in _NETWORK_KEYS:
            found[_NETWORK_KEYS[key]] = value
        else:
            raise ValueError(f"invalid field key {key}")
    if not target:
        raise ValueError("network name/id is not specified")
    ipam = {k: found.pop(k) for k in ("IPv4Address", "IPv6Address", "LinkLocalIPs") if k in found}
    endpoint = dict(found, **({"IPAMConfig": ipam} if ipam else {}), **({"DriverOpts": opts} if opts else {}))
    return target, endpoint


def network_flag(text: str) -> str:
    """argparse type of ``--network``: the long syntax checked at parse time, as docker."""
    try:
        parse_network(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
