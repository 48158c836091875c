"""Docker container options → OCI runtime config.json, by composing small operations.

Layer: runtime (3). May import: errors, runtime.capabilities, runtime.seccomp.

``build_spec(opts)`` is ``default_spec(rootfs)`` followed by ``with_*`` functions, each of which
changes one aspect of the spec dict in place (like containerd's SpecOpts). The defaults are
Docker's (moby oci/defaults.go and daemon/oci_linux.go): the default mounts, masked and
read-only paths, device cgroup rules and capability set. ``validate_resources`` holds Docker's
create-time resource checks with Docker's error texts; the daemon calls it before
``build_spec``. Nothing here touches the host except ``host_device`` (stat of a --device
path) and the privileged /dev walk, both of which take the paths to look at.
"""

from __future__ import annotations

import copy
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from hako.errors import InvalidArgument
from hako.runtime import capabilities as caps

OCI_VERSION = "1.0.2-dev"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
MIN_MEMORY = 6 * 1024 * 1024
INIT_PATH_IN_CONTAINER = "/sbin/docker-init"

DEFAULT_MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
DEFAULT_READONLY_PATHS = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)
RLIMIT_NAMES = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")

_NS_TYPES = ("pid", "network", "ipc", "uts", "mount")
_TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")


def _allow(kind: str, major: int | None, minor: int | None, access: str = "rwm",
           allow: bool = True) -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": allow, "type": kind}
    if major is not None:
        rule["major"] = major
    if minor is not None:
        rule["minor"] = minor
    rule["access"] = access
    return rule


# Docker's rules, then the ones runc appends itself (so other runtimes see them too).
DEFAULT_DEVICE_RULES = (
    {"allow": False, "access": "rwm"},
    _allow("c", 1, 5), _allow("c", 1, 3), _allow("c", 1, 9), _allow("c", 1, 8),
    _allow("c", 5, 0), _allow("c", 5, 1), _allow("c", 10, 229, allow=False),
    _allow("c", None, None, "m"), _allow("b", None, None, "m"), _allow("c", 1, 7),
    _allow("c", 136, None), _allow("c", 5, 2),
)


@dataclass(frozen=True)
class SpecOptions:
    """Everything the daemon decided about a container that the OCI spec expresses.

    Sizes are bytes, 0 means "not set" unless noted. ``rlimits`` are (name, soft, hard) with
    Docker's names ("nofile"). ``extra_mounts`` are OCI mount dicts (destination, type,
    source, options). ``devices`` are Docker device mappings ({"path_on_host",
    "path_in_container", "cgroup_permissions"}). ``join_namespaces`` maps an OCI namespace
    type ("ipc", "pid", "uts", "network") to a path to join (container:<id> modes).
    """

    rootfs: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    terminal: bool = False
    hostname: str = ""
    domainname: str = ""
    readonly_rootfs: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False
    rlimits: tuple[tuple[str, int, int], ...] = ()
    memory: int = 0
    memory_swap: int = 0  # total memory+swap as in Docker; -1 unlimited
    memory_reservation: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool = False
    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    nano_cpus: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int | None = None
    blkio_weight: int = 0
    # (host path, weight) and, per OCI throttle key ("throttleReadBpsDevice"...), (host path,
    # rate): each path is a block device, resolved to major:minor here
    blkio_weight_device: tuple[tuple[str, int], ...] = ()
    blkio_throttle: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    device_cgroup_rules: tuple[str, ...] = ()  # "c 1:3 rwm" (Docker's --device-cgroup-rule)
    oom_score_adj: int = 0
    cgroups_path: str = ""
    netns_path: str | None = None
    network_host: bool = False
    extra_mounts: tuple[Mapping[str, Any], ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    sysctls: Mapping[str, str] = field(default_factory=dict)
    devices: tuple[Mapping[str, str], ...] = ()
    init_path: str | None = None
    shm_size: int = DEFAULT_SHM_SIZE
    ipc_host: bool = False
    ipc_none: bool = False  # IpcMode "none": a private IPC namespace without /dev/shm
    # IpcMode shareable / container:<id>: /dev/shm is a bind of this host directory (a tmpfs
    # the daemon mounted, so another container can bind the same one)
    shm_source: str = ""
    pid_host: bool = False
    uts_host: bool = False
    cgroupns_private: bool = False
    join_namespaces: Mapping[str, str] = field(default_factory=dict)
    # "default": hako's default policy for the container's capabilities; a dict: a profile
    # in Docker's format (or OCI form), filtered for them; None: unconfined
    seccomp_profile: Mapping[str, Any] | str | None = None
    masked_paths: tuple[str, ...] | None = None  # None → Docker's defaults
    readonly_paths: tuple[str, ...] | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


Spec = dict[str, Any]
SpecOp = Callable[[Spec, SpecOptions], None]


def default_spec(rootfs: str) -> Spec:
    """Docker's default Linux spec: default caps, mounts, namespaces, masked paths, devices.

    Args:
        rootfs: the bundle's root filesystem path.

    Returns:
        A new spec dict (no process args yet).
    """
    default_caps = list(caps.DEFAULT_CAPABILITIES)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": [], "env": [], "cwd": "/",
            "capabilities": {"bounding": list(default_caps), "effective": list(default_caps),
                             "permitted": list(default_caps)},
        },
        "root": {"path": rootfs, "readonly": False},
        "mounts": default_mounts(DEFAULT_SHM_SIZE),
        "linux": {
            "resources": {"devices": [dict(rule) for rule in DEFAULT_DEVICE_RULES]},  # flat dicts
            "namespaces": [{"type": t} for t in ("mount", "network", "uts", "pid", "ipc")],
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
        },
    }


def default_mounts(shm_size: int) -> list[dict[str, Any]]:
    """Docker's default mounts, /dev/shm sized ``shm_size`` bytes."""
    nse = ["nosuid", "noexec", "nodev"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": list(nse)},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": nse + ["ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro"] + nse},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": list(nse)},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": nse + ["mode=1777", f"size={shm_size}"]},
    ]


# ------------------------------------------------------------------ process


def with_process(spec: Spec, opts: SpecOptions) -> None:
    """args (wrapped by docker-init when ``init_path``), env, cwd, terminal, user, OOM score."""
    proc = spec["process"]
    args = list(opts.args)
    if opts.init_path:
        args = [INIT_PATH_IN_CONTAINER, "--", *args]
    proc["args"] = args
    proc["env"] = list(opts.env)
    proc["cwd"] = opts.cwd or "/"
    proc["terminal"] = opts.terminal
    user: dict[str, Any] = {"uid": opts.uid, "gid": opts.gid}
    if opts.additional_gids:
        user["additionalGids"] = list(opts.additional_gids)
    proc["user"] = user
    if opts.oom_score_adj:
        proc["oomScoreAdj"] = opts.oom_score_adj
    if opts.no_new_privileges:
        proc["noNewPrivileges"] = True


def with_capabilities(spec: Spec, opts: SpecOptions) -> None:
    """Docker's default set tweaked by cap_add / cap_drop; everything when privileged.

    Raises:
        InvalidArgument: an unknown capability name.
    """
    names = caps.resolve_caps(caps.DEFAULT_CAPABILITIES, opts.cap_add, opts.cap_drop,
                              opts.privileged)
    spec["process"]["capabilities"] = {
        "bounding": list(names), "effective": list(names), "permitted": list(names),
    }


def with_rlimits(spec: Spec, opts: SpecOptions) -> None:
    """process.rlimits from (name, soft, hard); none unless asked.

    Raises:
        InvalidArgument: unknown name or soft > hard (Docker's texts).
    """
    out = []
    for name, soft, hard in opts.rlimits:
        if name not in RLIMIT_NAMES:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        if hard != -1 and (soft == -1 or soft > hard):
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        unlimited = 2**64 - 1
        out.append({"type": f"RLIMIT_{name.upper()}",
                    "hard": unlimited if hard == -1 else hard,
                    "soft": unlimited if soft == -1 else soft})
    if out:
        spec["process"]["rlimits"] = out


# ------------------------------------------------------------------ root, names, namespaces


def with_root(spec: Spec, opts: SpecOptions) -> None:
    """root.path and --read-only."""
    spec["root"] = {"path": opts.rootfs, "readonly": opts.readonly_rootfs}


def with_hostname(spec: Spec, opts: SpecOptions) -> None:
    """hostname / domainname, only with a private UTS namespace (Docker's rule)."""
    if opts.uts_host:
        spec.pop("hostname", None)
        return
    if opts.hostname:
        spec["hostname"] = opts.hostname
    if opts.domainname:
        spec["domainname"] = opts.domainname


def with_namespaces(spec: Spec, opts: SpecOptions) -> None:
    """Private namespaces, minus host modes, joining given paths (netns_path, container:<id>)."""
    host = {"ipc": opts.ipc_host, "pid": opts.pid_host, "uts": opts.uts_host,
            "network": opts.network_host}
    paths = dict(opts.join_namespaces)
    if opts.netns_path:
        paths["network"] = opts.netns_path
    namespaces = []
    for ns_type in ("mount", "network", "uts", "pid", "ipc"):
        if host.get(ns_type):
            continue
        entry = {"type": ns_type}
        if ns_type in paths:
            entry["path"] = paths[ns_type]
        namespaces.append(entry)
    if opts.cgroupns_private:
        namespaces.append({"type": "cgroup"})
    spec["linux"]["namespaces"] = namespaces


# ------------------------------------------------------------------ mounts


def tmpfs_mount(destination: str, options: str) -> dict[str, Any]:
    """A --tmpfs mount: Docker's noexec,nosuid,nodev defaults, overridable by exec/suid/dev.

    Args:
        destination: path in the container.
        options: user option string ("size=64m,mode=1777", "exec"), may be empty.
    """
    user = [o.strip() for o in options.split(",") if o.strip()]
    opts = [d for d in _TMPFS_DEFAULTS if d[2:] not in user]
    return {"destination": destination, "type": "tmpfs", "source": "tmpfs",
            "options": opts + [o for o in user if o not in _TMPFS_DEFAULTS]}


def with_mounts(spec: Spec, opts: SpecOptions) -> None:
    """Default mounts (sized /dev/shm, host IPC binds, privileged rw /sys), then user mounts.

    A user mount (extra_mounts, tmpfs, docker-init) replaces a default mount at the same
    destination; user mounts are ordered parents first.
    """
    mounts = default_mounts(opts.shm_size or DEFAULT_SHM_SIZE)
    for m in mounts:
        if opts.privileged and m["destination"] in ("/sys", "/sys/fs/cgroup"):
            m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
        # the host's IPC namespace: its /dev/shm; /dev/mqueue stays a new mqueue mount, which
        # in the host's IPC namespace shows the host's queues (a host may have no /dev/mqueue)
        if (opts.ipc_host or opts.shm_source) and m["destination"] == "/dev/shm":
            m.update(type="bind", source=opts.shm_source or "/dev/shm",
                     options=["rbind", "nosuid", "noexec", "nodev"])
    user = [dict(m) for m in opts.extra_mounts]
    user += [tmpfs_mount(dest, o) for dest, o in opts.tmpfs.items()]
    if opts.init_path:
        user.append({"destination": INIT_PATH_IN_CONTAINER, "type": "bind",
                     "source": opts.init_path, "options": ["bind", "ro"]})
    taken = {os.path.normpath(m["destination"]) for m in user}
    if opts.ipc_none:
        taken.add("/dev/shm")
    mounts = [m for m in mounts if m["destination"] not in taken]
    user.sort(key=lambda m: os.path.normpath(m["destination"]).count("/"))
    spec["mounts"] = mounts + user


def with_masked_paths(spec: Spec, opts: SpecOptions) -> None:
    """Docker's masked and read-only paths; none at all when privileged."""
    linux = spec["linux"]
    if opts.privileged:
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        return
    masked = DEFAULT_MASKED_PATHS if opts.masked_paths is None else opts.masked_paths
    readonly = DEFAULT_READONLY_PATHS if opts.readonly_paths is None else opts.readonly_paths
    linux["maskedPaths"], linux["readonlyPaths"] = list(masked), list(readonly)


# ------------------------------------------------------------------ devices


def host_device(path_on_host: str, path_in_container: str, permissions: str = "rwm"
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Describe one host device node for linux.devices and its cgroup allow rule.

    Returns:
        (linux.devices entry, linux.resources.devices rule).

    Raises:
        InvalidArgument: the path is missing or not a device (Docker's text).
    """
    if not permissions or any(c not in "rwm" for c in permissions):
        raise InvalidArgument(f"invalid device mode: {permissions}")
    try:
        st = os.stat(path_on_host)
    except OSError as exc:
        raise InvalidArgument(
            f"error gathering device information while adding custom device "
            f'"{path_on_host}": no such file or directory') from exc
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(
            f'error gathering device information while adding custom device "{path_on_host}": '
            "not a device node")
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    dev = {"path": path_in_container, "type": kind, "major": major, "minor": minor,
           "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    return dev, _allow(kind, major, minor, permissions)


def host_devices(dev_root: str = "/dev") -> list[dict[str, Any]]:
    """Every char/block device under ``dev_root`` (privileged containers get them all)."""
    skip = {"pts", "shm", "mqueue", "fd", ".lxc", ".lxd-mounts"}
    found = []
    for dirpath, dirnames, filenames in os.walk(dev_root):
        if dirpath == dev_root:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if name == "console" and dirpath == dev_root:
                continue
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                found.append(host_device(full, "/dev/" + os.path.relpath(full, dev_root))[0])
    return found


def mapped_devices(src: str, dst: str, permissions: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One --device mapping: the node itself, or every device node below a directory (as
    Docker's devicesFromPath, each at ``dst`` plus its path below ``src``).

    Raises:
        InvalidArgument: not a device node nor a directory holding any (Docker's text).
    """
    try:
        return [host_device(src, dst, permissions)]
    except InvalidArgument:
        if not os.path.isdir(src):
            raise
    found = []
    for dirpath, _dirs, filenames in os.walk(src):
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                found.append(host_device(full, dst.rstrip("/") + "/" + os.path.relpath(full, src),
                                         permissions))
    if not found:
        raise InvalidArgument(f'error gathering device information while adding custom device "{src}": '
                              "not a device node")
    return found


def parse_device_rule(text: str) -> dict[str, Any]:
    """A --device-cgroup-rule ("c 1:3 rwm", "*" for any major or minor) as an OCI rule.

    Raises:
        InvalidArgument: Docker's "invalid device cgroup rule format" text.
    """
    parts = text.split(" ")
    numbers = parts[1].split(":") if len(parts) == 3 else []
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or len(numbers) != 2 \
            or not all(n == "*" or n.isdigit() for n in numbers) \
            or not parts[2] or len(parts[2]) > 3 or any(c not in "rwm" for c in parts[2]):
        raise InvalidArgument(f"invalid device cgroup rule format: '{text}'")
    major, minor = (None if n == "*" else int(n) for n in numbers)
    return _allow(parts[0], major, minor, parts[2])


def with_devices(spec: Spec, opts: SpecOptions, dev_root: str = "/dev") -> None:
    """--device mappings (and all host devices plus "allow all" when privileged), then the
    --device-cgroup-rule rules.

    Raises:
        InvalidArgument: a --device path is not a device node, a rule is malformed.
    """
    linux = spec["linux"]
    rules = linux.setdefault("resources", {}).setdefault("devices", [])
    devices: list[dict[str, Any]] = []
    if opts.privileged:
        devices = host_devices(dev_root)
        rules[:] = [{"allow": True, "access": "rwm"}]
    for mapping in opts.devices:
        src = mapping["path_on_host"]
        dst = mapping.get("path_in_container") or src
        for dev, rule in mapped_devices(src, dst, mapping.get("cgroup_permissions") or "rwm"):
            devices = [d for d in devices if d["path"] != dev["path"]] + [dev]
            if not opts.privileged:
                rules.append(rule)
    if not opts.privileged:
        rules.extend(parse_device_rule(r) for r in opts.device_cgroup_rules)
    if devices:
        linux["devices"] = devices


def block_device(path: str) -> tuple[int, int]:
    """major, minor of the block device at ``path`` (for blkio weights and throttles).

    Raises:
        InvalidArgument: missing, or not a block device.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InvalidArgument(f"{path}: {exc.strerror.lower() if exc.strerror else exc}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise InvalidArgument(f"{path} is not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


# ------------------------------------------------------------------ resources and the rest


def with_resources(spec: Spec, opts: SpecOptions) -> None:
    """linux.resources memory / cpu / pids / blockIO from Docker's HostConfig values.

    ``memory_swap`` stays Docker's memory+swap total (as runc's v1 memsw); the cgroup
    driver converts it for v2. ``nano_cpus`` becomes quota over a 100ms period.
    """
    res = spec["linux"].setdefault("resources", {})
    memory: dict[str, Any] = {}
    if opts.memory:
        memory["limit"] = opts.memory
    if opts.memory_swap:
        memory["swap"] = opts.memory_swap
    if opts.memory_reservation:
        memory["reservation"] = opts.memory_reservation
    if opts.memory_swappiness is not None and opts.memory_swappiness >= 0:
        memory["swappiness"] = opts.memory_swappiness
    if opts.oom_kill_disable:
        memory["disableOOMKiller"] = True
    cpu: dict[str, Any] = {}
    if opts.cpu_shares:
        cpu["shares"] = opts.cpu_shares
    if opts.nano_cpus:
        cpu["period"] = 100000
        cpu["quota"] = opts.nano_cpus * 100000 // 1_000_000_000
    else:
        if opts.cpu_quota:
            cpu["quota"] = opts.cpu_quota
        if opts.cpu_period:
            cpu["period"] = opts.cpu_period
    if opts.cpuset_cpus:
        cpu["cpus"] = opts.cpuset_cpus
    if opts.cpuset_mems:
        cpu["mems"] = opts.cpuset_mems
    for key, value in (("memory", memory), ("cpu", cpu)):
        if value:
            res[key] = value
    if opts.pids_limit:
        res["pids"] = {"limit": opts.pids_limit if opts.pids_limit > 0 else -1}
    bio: dict[str, Any] = {}
    if opts.blkio_weight:
        bio["weight"] = opts.blkio_weight
    for path, weight in opts.blkio_weight_device:
        major, minor = block_device(path)
        bio.setdefault("weightDevice", []).append({"major": major, "minor": minor, "weight": weight})
    for key, devs in opts.blkio_throttle.items():
        for path, rate in devs:
            major, minor = block_device(path)
            bio.setdefault(key, []).append({"major": major, "minor": minor, "rate": rate})
    if bio:
        res["blockIO"] = bio


def with_sysctls(spec: Spec, opts: SpecOptions) -> None:
    """linux.sysctl; net.* needs a private netns and kernel.*/fs.mqueue.* a private IPC ns.

    Raises:
        InvalidArgument: a sysctl that would change the host (Docker's texts).
    """
    for key in opts.sysctls:
        if key.startswith("net.") and opts.network_host:
            raise InvalidArgument(f"sysctl '{key}' not allowed in host network namespace")
        ipc_key = key.startswith("fs.mqueue.") or key in _IPC_SYSCTLS
        if ipc_key and opts.ipc_host:
            raise InvalidArgument(f"sysctl '{key}' is not allowed in host IPC namespace")
        if not ipc_key and not key.startswith("net.") and key not in _SAFE_SYSCTLS:
            raise InvalidArgument(f"sysctl '{key}' is not whitelisted")
    if opts.sysctls:
        spec["linux"]["sysctl"] = dict(opts.sysctls)


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
_SAFE_SYSCTLS = {"kernel.domainname", "kernel.hostname"}


def with_seccomp(spec: Spec, opts: SpecOptions) -> None:
    """linux.seccomp for the container's bounding set (after ``with_capabilities``), like
    moby's WithSeccomp: privileged containers and ``None`` are unconfined; ``"default"`` is
    hako's policy; a dict is a Docker-format profile filtered as Docker does (one with
    neither a default action nor syscalls means unconfined).

    Raises:
        InvalidArgument: the profile is invalid (Docker's texts).
    """
    spec["linux"].pop("seccomp", None)
    if opts.seccomp_profile is None or opts.privileged:
        return
    from hako.runtime import seccomp

    bounding = spec["process"].get("capabilities", {}).get("bounding") or []
    if opts.seccomp_profile == "default":
        profile = seccomp.default_profile(bounding)
    elif isinstance(opts.seccomp_profile, Mapping):
        profile = seccomp.docker_profile(copy.deepcopy(dict(opts.seccomp_profile)), bounding)
    else:
        raise InvalidArgument(f"unknown seccomp profile {opts.seccomp_profile!r}")
    if profile is not None:
        spec["linux"]["seccomp"] = profile


def with_cgroups_path(spec: Spec, opts: SpecOptions) -> None:
    """linux.cgroupsPath ("/hako/<id>")."""
    if opts.cgroups_path:
        spec["linux"]["cgroupsPath"] = opts.cgroups_path


def with_annotations(spec: Spec, opts: SpecOptions) -> None:
    """Free-form annotations (e.g. org.opencontainers.image.* / com.docker.*)."""
    if opts.annotations:
        spec["annotations"] = dict(opts.annotations)


SPEC_OPS: tuple[SpecOp, ...] = (
    with_root, with_process, with_capabilities, with_rlimits, with_hostname, with_namespaces,
    with_mounts, with_masked_paths, with_devices, with_resources, with_sysctls, with_seccomp,
    with_cgroups_path, with_annotations,
)


def build_spec(opts: SpecOptions, ops: tuple[SpecOp, ...] = SPEC_OPS) -> Spec:
    """Build the OCI config.json dict for a Docker container.

    Args:
        opts: the container's options.
        ops: the operations applied to ``default_spec`` in order (default ``SPEC_OPS``).

    Returns:
        The spec dict, ready for json.dump into the bundle.

    Raises:
        InvalidArgument: an option is invalid (capability, ulimit, device, sysctl).
    """
    if not opts.args and not opts.init_path:
        raise InvalidArgument("No command specified")
    spec = default_spec(opts.rootfs)
    for op in ops:
        op(spec, opts)
    return spec


# ------------------------------------------------------------------ create-time validation


def _parse_list(text: str) -> set[int]:
    """A cpuset list ("0-2,4") → {0, 1, 2, 4}; ValueError when malformed."""
    out: set[int] = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        a = int(lo)
        b = int(hi) if sep else a
        if a < 0 or b < a:
            raise ValueError(text)
        out.update(range(a, b + 1))
    return out


def _host_list(path: str, fallback: str) -> str:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip() or fallback
    except OSError:
        return fallback


def _check_cpuset(value: str, available: str, what: str, missing: str) -> None:
    if not value:
        return
    try:
        wanted = _parse_list(value)
    except ValueError:
        raise InvalidArgument(f"Invalid value {value} for cpuset {what}") from None
    if not wanted <= _parse_list(available):
        raise InvalidArgument(
            f"Requested {missing} are not available - requested {value}, available: {available}")


def validate_resources(opts: SpecOptions, *, swap_limit_supported: bool = True,
                       host_cpus: str | None = None, host_mems: str | None = None,
                       update: bool = False) -> list[str]:
    """Docker's resource checks (verifyPlatformContainerResources), with Docker's texts.

    Args:
        opts: the container's options (only the resource fields are read).
        swap_limit_supported: whether the memory cgroup has swap accounting (memsw files /
            memory.swap.max); without it a memory limit gets Docker's warning.
        host_cpus: online CPU list ("0-1"); default: this process's affinity.
        host_mems: online memory nodes ("0"); default: /sys/devices/system/node/online.
        update: checks for ``docker update`` (memory-swap without memory is then allowed).

    Returns:
        Warnings to show the user (Docker's ``Warnings`` field).

    Raises:
        InvalidArgument: a value Docker rejects.
    """
    warnings: list[str] = []
    _validate_memory(opts, swap_limit_supported, update, warnings)
    ncpu = len(os.sched_getaffinity(0)) if host_cpus is None else len(_parse_list(host_cpus))
    if opts.nano_cpus > 0 and opts.cpu_period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if opts.nano_cpus > 0 and opts.cpu_quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if opts.nano_cpus < 0 or opts.nano_cpus > ncpu * 1_000_000_000:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only "
                              f"{ncpu} CPUs available")
    if opts.cpu_shares < 0:
        raise InvalidArgument(f"invalid CPU shares: {opts.cpu_shares}")
    if opts.cpu_period and not 1000 <= opts.cpu_period <= 1000000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if 0 < opts.cpu_quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if host_cpus is None:
        host_cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    _check_cpuset(opts.cpuset_cpus, host_cpus, "cpus", "CPUs")
    if host_mems is None:
        host_mems = _host_list("/sys/devices/system/node/online", "0")
    _check_cpuset(opts.cpuset_mems, host_mems, "mems", "memory nodes")
    if opts.blkio_weight and not 10 <= opts.blkio_weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if not -1000 <= opts.oom_score_adj <= 1000:
        raise InvalidArgument(
            f"Invalid value {opts.oom_score_adj}, range for oom score adj is [-1000, 1000]")
    return warnings


def _validate_memory(opts: SpecOptions, swap_ok: bool, update: bool,
                     warnings: list[str]) -> None:
    if opts.memory and opts.memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if opts.memory > 0 and opts.memory_swap != -1 and not swap_ok:
        warnings.append("Your kernel does not support swap limit capabilities or the cgroup "
                        "is not mounted. Memory limited without swap.")
    if opts.memory > 0 and opts.memory_swap > 0 and opts.memory_swap < opts.memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage")
    if opts.memory == 0 and opts.memory_swap > 0 and not update:
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = opts.memory_swappiness
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if 0 < opts.memory_reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if opts.memory > 0 and opts.memory_reservation > 0 and opts.memory < opts.memory_reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation "
                              "limit, see usage")
