"""/_ping, /version, /info, /events, /system/df."""

from __future__ import annotations

import asyncio
import os
import platform

from hako import __version__
from hako.daemon.api.router import JSONResponse, Request, Router, StreamResponse, TextResponse
from hako.daemon.api.server import API_VERSION, MIN_API_VERSION
from hako.daemon import security
from hako.daemon.state import Status

PING_HEADERS = [("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"),
                ("Builder-Version", "1")]


def register(r: Router) -> None:
    r.add("GET", "/_ping", ping)
    r.add("HEAD", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
    r.add("GET", "/events", events)
    r.add("GET", "/system/df", disk_usage)
    r.add("POST", "/swarm/leave", swarm_leave)


async def swarm_leave(req: Request) -> JSONResponse:
    """dockerd's answer on a node that is not in a swarm (hako never is)."""
    from hako.errors import Unavailable

    raise Unavailable("This node is not part of a swarm")


async def ping(req: Request) -> TextResponse:
    return TextResponse("OK", headers=PING_HEADERS)


def _kernel() -> str:
    return platform.release()


async def version(req: Request) -> JSONResponse:
    return JSONResponse({
        "Platform": {"Name": "hako"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                    "Os": "linux", "Arch": _arch(), "KernelVersion": _kernel(),
                                    "GitCommit": "hako", "GoVersion": "python" + platform.python_version(),
                                    "BuildTime": "", "Experimental": "false"}}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "hako", "GoVersion": "python" + platform.python_version(), "Os": "linux",
        "Arch": _arch(), "KernelVersion": _kernel(), "BuildTime": "",
    })


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def _backing_fs(path: str) -> str:
    """The filesystem type under ``path`` (mountinfo's longest matching mount point), in
    Docker's words (ext4 → extfs)."""
    real, best, fstype = os.path.realpath(path), "", "unknown"
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                point = left.split()[4]
                if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                    best, fstype = point, right.split()[0]
    except OSError:
        pass
    return {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs"}.get(fstype, fstype)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _cgroup_info() -> dict[str, bool]:
    from hako.daemon import sysinfo

    return sysinfo.info_fields()


def _userns_option(cfg) -> list[str]:
    from hako.daemon import rootless, userns

    return userns.info_options(cfg.remap) + rootless.info_options(cfg)


def _rootless_fields(cfg) -> dict:
    from hako.daemon import rootless

    return rootless.info_fields(cfg)


def _init_binary(cfg) -> str:
    from hako.daemon.bundle import _INIT_CANDIDATES

    if cfg.init_path:
        return cfg.init_path
    return next((p for p in _INIT_CANDIDATES if os.path.exists(p)), "")


async def info(req: Request) -> JSONResponse:
    """What is true of this daemon and host: nothing here is a fixed claim (SecurityOptions
    are the seccomp code's)."""
    svc = req.services.containers
    cfg = svc.config
    cs = svc.list()
    count = lambda *st: sum(1 for c in cs if c.state.status in st)  # noqa: E731
    try:
        n_images = len(req.services.images.list(True, None))
    except Exception:  # noqa: BLE001 - info must answer even if the store is unhappy
        n_images = 0
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    images = req.services.images
    bus = getattr(req.services, "events", None)
    return JSONResponse({
        "ID": getattr(req.services, "engine_id", "") or "", "Containers": len(cs),
        "ContainersRunning": count(Status.RUNNING, Status.RESTARTING),
        "ContainersPaused": count(Status.PAUSED),
        "ContainersStopped": count(Status.EXITED, Status.CREATED, Status.DEAD),
        "Images": n_images, "Driver": images.driver_name,
        "DriverStatus": [["Backing Filesystem", _backing_fs(cfg.data_root)]],
        # no volume or network drivers exist yet; "null" is the none/loopback-only netns
        "Plugins": {"Volume": ["local"], "Network": ["null"], "Authorization": None,
                    "Log": ["json-file", "local"]},
        **_cgroup_info(), "KernelMemory": False, "KernelMemoryTCP": False,
        "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward") == "1",
        "BridgeNfIptables": _read("/proc/sys/net/bridge/bridge-nf-call-iptables") == "1",
        "BridgeNfIp6tables": _read("/proc/sys/net/bridge/bridge-nf-call-ip6tables") == "1",
        "Debug": cfg.debug, "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": _now(), "LoggingDriver": cfg.log_driver, "CgroupDriver": "cgroupfs",
        "CgroupVersion": _cgroup_version(),
        "NEventsListener": len(getattr(bus, "_subscribers", ()) or ()), "KernelVersion": _kernel(),
        "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"] + [r for r in cfg.insecure_registries if "/" in r],
            "IndexConfigs": {}, "Mirrors": [m.rstrip("/") + "/" for m in cfg.registry_mirrors]},
        "NCPU": os.cpu_count(), "MemTotal": mem, "GenericResources": None,
        "DockerRootDir": cfg.data_root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": platform.node(), "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {n: {"path": cfg.runtime_path(n)} for n in cfg.runtime_names()},
        "DefaultRuntime": cfg.default_runtime, "Swarm": {"LocalNodeState": "inactive", "NodeID": "",
            "NodeAddr": "", "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        # shims outlive the daemon and are re-adopted at start (ContainerService.restore)
        "LiveRestoreEnabled": bool(cfg.live_restore), "Isolation": "", "InitBinary": _init_binary(cfg),
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""}, "SecurityOptions": security.info_options() + _userns_option(cfg),
        "Warnings": None, **_rootless_fields(cfg),
    })


def _now() -> str:
    from hako.daemon.state import now_rfc3339

    return now_rfc3339()


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


async def events(req: Request) -> StreamResponse:
    bus = getattr(req.services, "events", None)
    if bus is None:
        async def idle():
            yield b""
            await asyncio.Event().wait()

        return StreamResponse(idle())
    return StreamResponse(bus.stream(req.query_filters(), req.query.get("since"), req.query.get("until")))


def disk_usage_report(images, containers, volumes=None) -> dict:
    """Docker's ``/system/df``, measured: every layer once (``LayersSize``), each image with
    the containers using it and the size it shares with other images, each container's
    writable layer, each volume with its measured size and the number of containers that
    refer to it; the legacy builder's cache is made of images (counted there), so
    ``BuildCache`` is empty as in Docker without BuildKit."""
    from hako.daemon.api import wire
    from hako.daemon.api.routes.images import summary_json

    imgs = images.list(True, None)
    sizes: dict[str, int] = {}
    users: dict[str, int] = {}
    for img in imgs:
        for d in img.layers:
            if d not in sizes:
                layer = images.meta.get_layer(d)
                sizes[d] = layer.size if layer is not None else 0
            users[d] = users.get(d, 0) + 1
    cs = list(containers.list())
    per_image: dict[str, int] = {}
    for c in cs:
        per_image[c.image] = per_image.get(c.image, 0) + 1
    out_images = []
    for img in imgs:
        item = summary_json(img)
        item["Containers"] = per_image.get(img.id, 0)
        item["SharedSize"] = sum(sizes[d] for d in set(img.layers) if users[d] > 1)
        out_images.append(item)
    out_containers = []
    for c in cs:
        try:
            rw = images.rootfs_size(c.id)
        except Exception:  # noqa: BLE001 - a container being removed has no snapshot
            rw = (0, 0)
        out_containers.append(wire.list_json(c, rw))
    out_volumes = []
    if volumes is not None:
        from hako.daemon.api.routes.volumes import volume_json

        for vol in volumes.list():
            usage = {"Size": volumes.size(vol.name), "RefCount": len(volumes.users(vol.name))}
            out_volumes.append(volume_json(vol, usage))
    return {"LayersSize": sum(sizes.values()), "Images": out_images, "Containers": out_containers,
            "Volumes": out_volumes, "BuildCache": []}


async def disk_usage(req: Request) -> JSONResponse:
    return JSONResponse(await req.run(disk_usage_report, req.services.images,
                                      req.services.containers, req.services.volumes))
