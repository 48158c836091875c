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


async def info(req: Request) -> JSONResponse:
    svc = req.services.containers
    cfg = svc.config
    cs = svc.list()
    count = lambda *st: sum(1 for c in cs if c.state.status in st)  # noqa: E731
    try:
        n_images = len(req.services.images.list(True, None))
    except Exception:  # noqa: BLE001 - info must answer even if the store is unhappy
        n_images = 0
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return JSONResponse({
        "ID": cfg.data_root, "Containers": len(cs),
        "ContainersRunning": count(Status.RUNNING, Status.RESTARTING),
        "ContainersPaused": count(Status.PAUSED),
        "ContainersStopped": count(Status.EXITED, Status.CREATED, Status.DEAD),
        "Images": n_images, "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                    "Authorization": None, "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
        "KernelMemory": False, "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True,
        "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True, "BridgeNfIptables": True,
        "BridgeNfIp6tables": True, "Debug": cfg.debug, "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": True, "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": _now(), "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
        "CgroupVersion": _cgroup_version(), "NEventsListener": 0, "KernelVersion": _kernel(),
        "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
        "NCPU": os.cpu_count(), "MemTotal": mem, "GenericResources": None,
        "DockerRootDir": cfg.data_root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": platform.node(), "Labels": [], "ExperimentalBuild": False, "ServerVersion": __version__,
        "Runtimes": {n: {"path": cfg.runtime_path(n)} for n in cfg.runtime_names()},
        "DefaultRuntime": cfg.default_runtime, "Swarm": {"LocalNodeState": "inactive", "NodeID": "",
            "NodeAddr": "", "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""}, "SecurityOptions": security.info_options(),
        "Warnings": None,
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


async def disk_usage(req: Request) -> JSONResponse:
    return JSONResponse({"LayersSize": 0, "Images": [], "Containers": [], "Volumes": [], "BuildCache": []})
