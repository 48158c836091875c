"""hakod entrypoint: flags → frozen config → services → API server; signals; state reload."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from hako.errors import EngineError, InvalidArgument

log = logging.getLogger("hakod")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # dockerd style: "unknown flag: --x"
        if message.startswith("unrecognized arguments:"):
            message = "unknown flag: " + message.split(":", 1)[1].strip()
        sys.stderr.write(f"hakod: {message}\nSee 'hakod --help'.\n")
        sys.exit(125)


def parse_args(argv: list[str]) -> tuple[dict[str, Any], str | None]:
    """dockerd's flag names → (explicitly given config fields, config file path)."""
    p = _Parser(prog="hakod", description="hako container engine daemon")
    p.add_argument("-H", "--host", action="append", dest="hosts", help="daemon socket(s) to listen on")
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--exec-root", dest="exec_root")
    p.add_argument("-p", "--pidfile", dest="pidfile")
    p.add_argument("--config-file", dest="config_file", default=None,
                   help="default /etc/hako/daemon.json (rootless: ~/.config/hako/daemon.json)")
    p.add_argument("-l", "--log-level", dest="log_level",
                   choices=["debug", "info", "warn", "error", "fatal"])
    p.add_argument("-D", "--debug", dest="debug", action="store_true", default=None)
    p.add_argument("--default-runtime", dest="default_runtime")
    p.add_argument("--add-runtime", dest="runtimes", action="append", metavar="NAME=PATH")
    p.add_argument("--shim", dest="shim", metavar="hako|conmon",
                   help="per-container monitor: hako's own (default) or conmon")
    p.add_argument("--cgroup-parent", dest="cgroup_parent")
    p.add_argument("--init-path", dest="init_path")
    p.add_argument("--userns-remap", dest="userns_remap")
    p.add_argument("-s", "--storage-driver", dest="storage_driver",
                   choices=["overlay2", "fuse-overlayfs"],
                   help="overlay2 (kernel overlayfs) or fuse-overlayfs (rootless default where "
                        "the kernel refuses overlay in a user namespace)")
    p.add_argument("-b", "--bridge", dest="bridge_name")
    p.add_argument("--bip", dest="bridge_cidr")
    p.add_argument("--bridge-name", dest="default_bridge_name",
                   help="name of the default bridge hakod makes (hako; default hako0)")
    p.add_argument("--fixed-cidr", dest="fixed_cidr")
    p.add_argument("--fixed-cidr-v6", dest="fixed_cidr_v6")
    p.add_argument("--mtu", dest="mtu", type=int)
    p.add_argument("--firewall-backend", dest="firewall_backend", choices=["auto", "nft", "iptables"],
                   help="packet filter tool (hako; auto: nft, else iptables)")
    for flag, dest in (("--ip-forward", "ip_forward"), ("--iptables", "iptables"), ("--icc", "icc"),
                       ("--userland-proxy", "userland_proxy"), ("--ipv6", "ipv6")):
        p.add_argument(flag, dest=dest, type=_bool, nargs="?", const=True, metavar="BOOL")
    p.add_argument("--default-address-pool", dest="default_address_pools", action="append",
                   metavar="base=CIDR,size=N")
    p.add_argument("--tls", dest="tls", action="store_true", default=None)
    p.add_argument("--tlsverify", dest="tls_verify", action="store_true", default=None)
    p.add_argument("--tlscacert", dest="tls_cacert")
    p.add_argument("--tlscert", dest="tls_cert")
    p.add_argument("--tlskey", dest="tls_key")
    p.add_argument("--insecure-registry", dest="insecure_registries", action="append",
                   metavar="HOST|CIDR")
    p.add_argument("--registry-mirror", dest="registry_mirrors", action="append", metavar="URL")
    p.add_argument("--max-concurrent-downloads", dest="max_concurrent_downloads", type=int)
    p.add_argument("--max-concurrent-uploads", dest="max_concurrent_uploads", type=int)
    p.add_argument("--log-driver", dest="log_driver", help="default driver for container logs")
    p.add_argument("--log-opt", dest="log_opts", action="append", metavar="KEY=VALUE",
                   help="default log driver options for containers")
    p.add_argument("--live-restore", dest="live_restore", type=_bool, nargs="?", const=True,
                   metavar="BOOL", help="keep containers running while the daemon is down")
    p.add_argument("--shutdown-timeout", dest="shutdown_timeout", type=int,
                   help="seconds to stop containers at shutdown (default 15)")
    p.add_argument("-r", "--restart", dest="seed_restart", type=_bool, nargs="?", const=True,
                   metavar="BOOL", help="deprecated (Docker 0.x): use a restart policy per container")
    ns = p.parse_args(argv)
    _seed_restart(ns.seed_restart)
    ns.seed_restart = None
    flags = {k: v for k, v in vars(ns).items() if v is not None and k != "config_file"}
    if "default_address_pools" in flags:
        from hako.network.config import parse_address_pool

        try:
            flags["default_address_pools"] = tuple(parse_address_pool(v) for v in flags["default_address_pools"])
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
    if "log_opts" in flags:
        opts = {}
        for item in flags["log_opts"]:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise InvalidArgument(f"invalid key value pair format in log opts: {item}")
            opts[key] = value
        flags["log_opts"] = opts
    if "runtimes" in flags:
        table = {}
        for item in flags["runtimes"]:
            name, eq, path = item.partition("=")
            if not eq or not name or not path:
                raise InvalidArgument(f"invalid runtime {item!r}: expected NAME=PATH")
            table[name] = path
        flags["runtimes"] = table
    return flags, ns.config_file


def _seed_restart(value: bool | None) -> None:
    """The seed's ``-r=false`` (do not restart containers when the daemon starts) is what
    hakod does today: only a container's own restart policy (``run --restart``) restarts it.
    ``-r=true`` asked the daemon to restart every container that was running; that has no
    honest mapping, so it is refused with the replacement named.

    Raises:
        InvalidArgument: ``-r=true``.
    """
    if value is None:
        return
    if value:
        raise InvalidArgument("the -r/--restart daemon flag was removed: give containers a restart "
                              "policy instead (run --restart=always or unless-stopped)")
    sys.stderr.write("hakod: Flag -r/--restart is deprecated: containers are restarted only by "
                     "their own restart policy (run --restart); -r=false is what hakod does\n")


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "t"):
        return True
    if value.lower() in ("0", "false", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


@dataclass
class Services:
    config: Any
    images: Any
    containers: Any
    execs: Any
    events: Any
    volumes: Any = None
    network: Any = None
    engine_id: str = ""


def build_services(config: Any) -> Services:
    from hako.daemon.containers import ContainerService
    from hako.daemon.events import EventBus
    from hako.daemon.exec import ExecService
    from hako.image.service import ImageService

    os.makedirs(config.data_root, mode=0o710, exist_ok=True)
    os.makedirs(config.exec_root, mode=0o700, exist_ok=True)
    events = EventBus()
    from hako.network.service import NetworkService
    from hako.volume.service import VolumeService

    images = ImageService(config.data_root, registries=config.registry_options())
    volumes = VolumeService(os.path.join(config.data_root, "volumes"))
    network = NetworkService(config.network_config())
    containers = ContainerService(config, images, events, volumes, network)
    from hako.daemon import engineid

    return Services(config, images, containers, ExecService(containers), events,
                    volumes=volumes, network=network,
                    engine_id=engineid.load_or_create(config.data_root))


def build_router() -> Any:
    from hako.daemon.api.router import Router
    from hako.daemon.api.routes import check, containers, exec as exec_routes, system

    router = Router()
    system.register(router)
    check.register(router)
    containers.register(router)
    exec_routes.register(router)
    from hako.daemon.api.routes import volumes as volume_routes

    volume_routes.register(router)
    from hako.daemon.api.routes import networks as network_routes

    network_routes.register(router)
    try:
        from hako.daemon.api.routes import images
    except ImportError as exc:
        log.warning("image routes unavailable: %s", exc)
    else:
        images.register(router)
    from hako.daemon.api.routes import build as build_routes, registry as registry_routes

    registry_routes.register(router)

    build_routes.register(router)
    return router


def _write_pidfile(path: str) -> None:
    if os.path.exists(path):
        try:
            pid = int(open(path).read().strip() or 0)
            if pid and os.path.exists(f"/proc/{pid}"):
                raise InvalidArgument(
                    f"pid file found, ensure hakod is not running or delete {path}")
        except ValueError:
            pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    from hako.support.atomicfile import write_bytes

    write_bytes(path, f"{os.getpid()}\n".encode())


async def serve(config: Any, manager: Any = None, activated: list[int] = ()) -> None:
    """Run the daemon until SIGTERM/SIGINT. ``manager`` is a ``support.systemd.Notifier``
    (READY/STOPPING/WATCHDOG to a service manager, when there is one); ``activated`` are the
    sockets socket activation handed over, served by ``-H fd://``."""
    from hako.daemon.api.server import ApiServer

    from hako.daemon.config import tls_context

    from hako.daemon import pools

    ssl_context = tls_context(config)  # bad TLS material fails before anything is touched
    from hako.support import systemd

    for host in config.hosts:  # so does an fd:// that socket activation did not provide
        if host.startswith("fd://"):
            systemd.select_fds(host[len("fd://"):], list(activated))
    from hako.daemon import memtrim

    memtrim.limit_arenas()  # before the pools' threads: see memtrim
    pools.install_blocking_executor(asyncio.get_running_loop())
    services = build_services(config)
    from hako.daemon.shimzygote import Supervisor

    zygote = Supervisor(config.exec_root) if config.shim == "hako" else None  # conmon: unused
    if zygote is not None:
        zygote.start()  # before restore: a restarted container's shim is forked by it too
    await asyncio.get_running_loop().run_in_executor(None, services.network.setup)
    await services.containers.restore()
    server = ApiServer(build_router(), services)
    for host in config.hosts:
        await server.listen(host, ssl_context if host.startswith(("tcp://", "fd://")) else None,
                            activated)
    log.info("hakod listening on %s", ", ".join(config.hosts))
    from hako.daemon import liverestore

    boot = asyncio.get_running_loop().create_task(liverestore.start_at_boot(services.containers))
    trimmer = asyncio.get_running_loop().create_task(memtrim.trim_when_quiet(services.events))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog = None
    if manager is not None:
        manager.notify("READY=1", f"MAINPID={os.getpid()}", "STATUS=serving the Engine API")
        if manager.watchdog_interval():
            watchdog = loop.create_task(_watchdog(manager))
    await stop.wait()
    log.info("hakod shutting down")
    if manager is not None:
        manager.notify("STOPPING=1", "STATUS=shutting down")
    if watchdog is not None:
        watchdog.cancel()
    trimmer.cancel()
    await server.close()
    boot.cancel()
    if not config.live_restore:
        await liverestore.shutdown(services.containers, config.shutdown_timeout)
    await services.containers.exits_finished()  # the records of exits already answered
    if zygote is not None:
        zygote.stop()
    running = any(c.state.running for c in services.containers.list())
    await asyncio.get_running_loop().run_in_executor(None, services.network.shutdown, running)
    for host in config.hosts:
        if host.startswith("unix://"):
            try:
                os.unlink(host[len("unix://"):])
            except FileNotFoundError:
                pass


async def _watchdog(manager: Any) -> None:
    """``WATCHDOG=1`` from the event loop itself: a loop that hangs stops the pings."""
    while True:
        manager.notify("WATCHDOG=1", wait=0)  # a manager not reading must not stall the loop
        await asyncio.sleep(manager.watchdog_interval())


def _malloc_steady_state() -> None:
    """Start glibc's malloc where its dynamic thresholds end up after the first large transfer.

    Until an mmapped block is freed, glibc serves every allocation over 128 KiB (the 1 MiB
    buffers of a pull, a load or a build context) with a fresh mmap and returns freed heap
    at once: the first pull of a daemon took 60,000 page faults and ~0.2 s more system time
    than the next one. Fixed thresholds of that later state (mmap above 2 MiB, trim above
    4 MiB) give the first pull the same; a fresh daemon's memory is unchanged.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 2 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 4 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: its defaults stay
        pass


def main(argv: list[str] | None = None) -> int:
    from hako.daemon import config as configmod

    from hako.daemon import rootless

    args = sys.argv[1:] if argv is None else argv
    try:
        flags, config_file = parse_args(args)
        if rootless.wanted():  # a user's hakod: served by a child in namespaces of its own
            return rootless.launch(args)
        if os.environ.get(rootless.ENV):
            try:
                rootless.enter()
            except OSError as exc:
                raise InvalidArgument(f"rootless hakod: {exc.strerror or exc}") from None
        config = configmod.load(flags, config_file, rootless=rootless.entered())
        if config.rootless:
            os.makedirs(config.exec_root, mode=0o700, exist_ok=True)
            rootless.bind_resolv_conf(config.exec_root)
            if config.cgroup_delegated:
                rootless.adopt_cgroup(rootless.delegated_cgroup())
        from hako.daemon import storagedriver

        storagedriver.choose(config)
    except EngineError as exc:
        sys.stderr.write(f"hakod: {exc}\n")
        return 1
    level = "debug" if config.debug else config.log_level
    logging.basicConfig(level=getattr(logging, level.upper().replace("FATAL", "CRITICAL"), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from hako.support import systemd

    _malloc_steady_state()
    try:
        # read (and drop from the environment) before any process is spawned
        manager, activated = systemd.Notifier(), systemd.listen_fds()
        if config.pidfile:
            _write_pidfile(config.pidfile)
        asyncio.run(serve(config, manager, activated))
    except EngineError as exc:
        log.error("%s", exc)
        return 1
    finally:
        if config.pidfile and os.path.exists(config.pidfile):
            try:
                if int(open(config.pidfile).read().strip() or 0) == os.getpid():
                    os.unlink(config.pidfile)
            except (OSError, ValueError):
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
