"""Container creation policy: merge the image config into the request, validate, write files.

Pure functions over Docker's API structures (Config, HostConfig), so the rules Docker applies
at create time (daemon/create.go, daemon/container.go) are unit-testable here.
"""

from __future__ import annotations

import os
from typing import Any

from hako.errors import InvalidArgument
from hako.support import units

_KNOWN_RESTART = {"", "no", "always", "unless-stopped", "on-failure"}


def image_config(image: Any) -> dict[str, Any]:
    """The runtime part (``config``) of an image's config document."""
    cfg = getattr(image, "config", None) or {}
    inner = cfg.get("config") if isinstance(cfg.get("config"), dict) else None
    return inner if inner is not None else cfg


def merge_config(user: dict[str, Any], img: dict[str, Any]) -> dict[str, Any]:
    """Apply Docker's merge of image defaults into a container Config (daemon.merge).

    Raises:
        InvalidArgument: ``No command specified`` when neither has Cmd nor Entrypoint.
    """
    conf = dict(user)
    if not conf.get("User"):
        conf["User"] = img.get("User") or ""
    ports = dict(img.get("ExposedPorts") or {})
    ports.update(conf.get("ExposedPorts") or {})
    conf["ExposedPorts"] = ports or None
    env = list(conf.get("Env") or [])
    keys = {e.split("=", 1)[0] for e in env}
    env += [e for e in img.get("Env") or [] if e.split("=", 1)[0] not in keys]
    conf["Env"] = env
    labels = dict(img.get("Labels") or {})
    labels.update(conf.get("Labels") or {})
    conf["Labels"] = labels
    if not conf.get("Entrypoint"):
        if not conf.get("Cmd"):
            conf["Cmd"] = img.get("Cmd")
        if conf.get("Entrypoint") is None:
            conf["Entrypoint"] = img.get("Entrypoint")
    if conf.get("Entrypoint") == [""]:
        conf["Entrypoint"] = None
    if not conf.get("WorkingDir"):
        conf["WorkingDir"] = img.get("WorkingDir") or ""
    vols = dict(img.get("Volumes") or {})
    vols.update(conf.get("Volumes") or {})
    conf["Volumes"] = vols or None
    if not conf.get("StopSignal") and img.get("StopSignal"):
        conf["StopSignal"] = img["StopSignal"]
    if img.get("Healthcheck"):  # the user's fields win, the image fills the empty ones
        user_hc = dict(conf.get("Healthcheck") or {})
        for key, value in img["Healthcheck"].items():
            if not user_hc.get(key):
                user_hc[key] = value
        conf["Healthcheck"] = user_hc
    if not conf.get("OnBuild"):
        conf["OnBuild"] = None
    if not conf.get("Entrypoint") and not conf.get("Cmd"):
        raise InvalidArgument("No command specified")
    return conf


def entrypoint_and_args(conf: dict[str, Any]) -> tuple[str, list[str]]:
    """Path and Args as Docker shows them in inspect."""
    entry = list(conf.get("Entrypoint") or [])
    cmd = list(conf.get("Cmd") or [])
    if entry:
        return entry[0], entry[1:] + cmd
    return cmd[0], cmd[1:]


def validate_host_config(hc: dict[str, Any], update: bool = False) -> list[str]:
    """Check a HostConfig like Docker's verifyPlatformContainerSettings.

    Returns:
        Warnings to pass back to the client.

    Raises:
        InvalidArgument: with Docker's message for the first invalid setting.
    """
    warnings = check_resources(hc, update=update)
    ipc_mode = hc.get("IpcMode") or ""
    if ipc_mode not in ("", "private", "shareable", "host", "none") and (
            not ipc_mode.startswith("container:") or not ipc_mode[len("container:"):]):
        raise InvalidArgument(f"invalid IPC mode: {ipc_mode}")
    pid_mode = hc.get("PidMode") or ""
    if pid_mode not in ("", "host") and (not pid_mode.startswith("container:")
                                         or not pid_mode[len("container:"):]):
        raise InvalidArgument(f"invalid PID mode: {pid_mode}")
    memory = int(hc.get("Memory") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    if memory and memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if swap > 0 and not memory:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if memory and swap > 0 and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    reservation = int(hc.get("MemoryReservation") or 0)
    if memory and reservation and memory < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage")
    shares = int(hc.get("CpuShares") or 0)
    if shares < 0:
        raise InvalidArgument(f"invalid CPU shares value {shares}")
    nano = int(hc.get("NanoCpus") or 0)
    if nano and (hc.get("CpuQuota") or hc.get("CpuPeriod")):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    ncpu = os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 10**9:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) < -1:
        raise InvalidArgument(f"invalid pids limit {pids}")
    policy = (hc.get("RestartPolicy") or {}).get("Name", "")
    if policy not in _KNOWN_RESTART:
        raise InvalidArgument(f"invalid restart policy '{policy}'")
    if policy not in ("", "no") and hc.get("AutoRemove"):  # moby: RestartPolicy.IsNone()
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if policy != "on-failure" and (hc.get("RestartPolicy") or {}).get("MaximumRetryCount"):
        raise InvalidArgument(
            f"maximum retry count cannot be used with restart policy '{policy}'")
    if hc.get("OomScoreAdj") is not None and not -1000 <= int(hc["OomScoreAdj"]) <= 1000:
        raise InvalidArgument(
            f"Invalid value {hc['OomScoreAdj']}, range for oom score adj is [-1000, 1000]")
    shm = hc.get("ShmSize")
    if shm is not None and int(shm) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    if "" in (hc.get("Annotations") or {}):
        raise InvalidArgument("invalid Annotations: the empty string is not permitted as an annotation key")
    return warnings


# moby's verifyPlatformContainerResources: what the host cannot do is discarded with a warning
_DISCARDED = (
    ("MemorySwappiness", "MemorySwappiness", None,
     "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. "
     "Memory swappiness discarded."),
    ("BlkioWeight", "BlkioWeight", 0,
     "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
    ("BlkioWeightDevice", "BlkioWeightDevice", [],
     "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. "
     "Weight-device discarded."),
    ("BlkioDeviceReadBps", "BlkioReadBpsDevice", [],
     "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. "
     "Block I/O BPS read limit discarded."),
    ("BlkioDeviceWriteBps", "BlkioWriteBpsDevice", [],
     "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. "
     "Block I/O BPS write limit discarded."),
    ("BlkioDeviceReadIOps", "BlkioReadIOpsDevice", [],
     "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. "
     "Block I/O IOPS read limit discarded."),
    ("BlkioDeviceWriteIOps", "BlkioWriteIOpsDevice", [],
     "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. "
     "Block I/O IOPS write limit discarded."),
)


def check_resources(hc: dict[str, Any], features: dict[str, bool] | None = None,
                    update: bool = False) -> list[str]:
    """The resource fields the host's cgroups cannot apply are discarded from ``hc`` with
    Docker's warnings (``features``: hako.daemon.sysinfo's, probed when None); values out of
    range are refused. ``update``: ``hc`` is a container's whole HostConfig after an update
    (the OOM warning about a missing memory limit was given at its create).

    Raises:
        InvalidArgument: Docker's message for the first invalid value.
    """
    from hako.daemon import sysinfo

    feats = sysinfo.features() if features is None else features
    warnings: list[str] = []
    for key, feature, zero, text in _DISCARDED:
        value = hc.get(key)
        # MemorySwappiness 0 is a value (moby: any non-nil pointer)
        unset = value is None if key == "MemorySwappiness" else value in (None, 0, [])
        if unset or feats.get(feature):
            continue
        if key != "MemorySwappiness" or value != -1:  # -1: the default, nothing was asked
            warnings.append(text)
        hc[key] = zero
    if hc.get("OomKillDisable") and not feats.get("OomKillDisable"):
        warnings.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        hc["OomKillDisable"] = False
    if hc.get("OomKillDisable") and not hc.get("Memory") and not update:
        warnings.append("OOM killer is disabled for the container, but no memory limit is set, "
                        "this can result in the system running out of resources.")
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= int(swappiness) <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    weight = int(hc.get("BlkioWeight") or 0)
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    for key in ("BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"):
        for dev in hc.get(key) or []:
            if not isinstance(dev.get("Path"), str) or not dev["Path"]:
                raise InvalidArgument(f"invalid {key} entry {dev}: a device Path is required")
            value = dev.get("Weight" if key == "BlkioWeightDevice" else "Rate")
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidArgument(f"invalid {key} entry {dev}: a non-negative integer "
                                      f"{'Weight' if key == 'BlkioWeightDevice' else 'Rate'} is required")
            if key == "BlkioWeightDevice" and value and not 10 <= value <= 1000:
                raise InvalidArgument(f"invalid weight for device: {value}")
    if hc.get("DeviceCgroupRules"):  # the runtime's parser, at create already (moby: at start)
        from hako.runtime.specgen import parse_device_rule

        for rule in hc["DeviceCgroupRules"]:
            parse_device_rule(rule)
    for dev in hc.get("Devices") or []:
        if not isinstance(dev.get("PathOnHost"), str) or not dev["PathOnHost"]:
            raise InvalidArgument(f"invalid device mapping {dev}: PathOnHost is required")
        perms = dev.get("CgroupPermissions") or "rwm"
        if not isinstance(perms, str) or any(c not in "rwm" for c in perms):
            raise InvalidArgument(f"invalid device mode: {perms}")
    return warnings


def default_host_config(hc: dict[str, Any] | None) -> dict[str, Any]:
    """Fill the defaults Docker shows in inspect."""
    out = dict(hc or {})
    out.setdefault("NetworkMode", "default")
    if not out.get("NetworkMode"):
        out["NetworkMode"] = "default"
    out.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    if not (out.get("RestartPolicy") or {}).get("Name"):
        out["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    if not out.get("ShmSize"):
        out["ShmSize"] = 64 * 1024 * 1024
    for key in ("Binds", "Links", "VolumesFrom", "CapAdd", "CapDrop", "Dns", "DnsOptions", "DnsSearch",
                "ExtraHosts", "GroupAdd", "Devices", "Ulimits", "Tmpfs", "SecurityOpt", "Mounts"):
        out.setdefault(key, None)
    for key in ("Memory", "MemorySwap", "MemoryReservation", "CpuShares", "CpuPeriod", "CpuQuota",
                "NanoCpus", "BlkioWeight", "KernelMemory", "CpuRealtimePeriod", "CpuRealtimeRuntime"):
        out.setdefault(key, 0)
    for key in ("Privileged", "PublishAllPorts", "ReadonlyRootfs", "AutoRemove", "OomKillDisable"):
        out.setdefault(key, False)
    for key in ("CpusetCpus", "CpusetMems", "CgroupParent", "IpcMode", "PidMode", "UTSMode",
                "UsernsMode", "Cgroup", "VolumeDriver", "Runtime", "Isolation", "ContainerIDFile"):
        out.setdefault(key, "")
    out.setdefault("PortBindings", {})
    out.setdefault("ConsoleSize", [0, 0])
    out.setdefault("PidsLimit", None)
    out.setdefault("MemorySwappiness", None)
    out.setdefault("OomScoreAdj", 0)
    out.setdefault("Init", None)
    if not out.get("IpcMode"):
        out["IpcMode"] = "private"
    if not out.get("CgroupnsMode"):  # Docker's default on a cgroup v1 host (hako's too)
        out["CgroupnsMode"] = "host"
    return out


def parse_memory_flag(value: Any) -> int:
    """A memory value from JSON that may be a number or a size string."""
    if isinstance(value, str):
        return units.parse_ram_size(value)
    return int(value or 0)
