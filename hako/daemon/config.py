"""Frozen daemon configuration, from dockerd-style flags and a daemon.json-style file."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from hako.errors import InvalidArgument

DEFAULT_SOCKET = "unix:///run/hako/hako.sock"


@dataclass(frozen=True)
class DaemonConfig:
    """Everything the daemon needs to know at start; passed down, never mutated."""

    hosts: tuple[str, ...] = (DEFAULT_SOCKET,)
    data_root: str = "/var/lib/hako"
    exec_root: str = "/run/hako"
    pidfile: str = ""
    log_level: str = "info"
    debug: bool = False
    default_runtime: str = "hako"
    shim: str = "hako"  # --shim (hako): the per-container monitor, hako's own or conmon
    runtimes: dict[str, str] = field(default_factory=dict)
    cgroup_parent: str = "/hako"
    init_path: str = ""
    bridge_name: str = ""  # -b/--bridge: an existing bridge for the default network
    bridge_cidr: str = ""  # --bip
    default_bridge_name: str = "hako0"  # --bridge-name (hako): the bridge hakod makes
    fixed_cidr: str = ""
    ipv6: bool = False  # --ipv6: the default bridge has IPv6 (needs --fixed-cidr-v6)
    fixed_cidr_v6: str = ""
    mtu: int = 0
    ip_forward: bool = True
    iptables: bool = True
    icc: bool = True
    userland_proxy: bool = True
    firewall_backend: str = "auto"  # --firewall-backend (hako): auto, nft or iptables
    default_address_pools: tuple = ()  # ((base, size), ...)
    tls: bool = False
    tls_verify: bool = False
    tls_cacert: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    live_restore: bool = False  # --live-restore: containers keep running through a shutdown
    shutdown_timeout: int = 15  # --shutdown-timeout: seconds to stop containers at shutdown
    log_driver: str = "json-file"  # --log-driver: for containers created without one
    log_opts: dict[str, str] = field(default_factory=dict)  # --log-opt KEY=VALUE
    userns_remap: str = ""  # --userns-remap: default, USER[:GROUP] or UID[:GID]
    remap: Any = None  # its resolved hako.daemon.userns.Remap (set by load)
    rootless: bool = False  # a user's hakod in its own namespaces (hako.daemon.rootless)
    cgroup_delegated: bool = False  # rootless: the host delegated our cgroup v2 subtree
    storage_driver: str = ""  # --storage-driver: overlay2 or fuse-overlayfs ("": overlay2, rootless: probed)

    def registry_options(self):
        """The image layer's registry settings (validated)."""
        from hako.image.registries import RegistryOptions

        return RegistryOptions(tuple(m.rstrip("/") for m in self.registry_mirrors),
                               tuple(self.insecure_registries), int(self.max_concurrent_downloads),
                               int(self.max_concurrent_uploads))

    @property
    def containers_root(self) -> str:
        return os.path.join(self.data_root, "containers")

    def network_config(self):
        from hako.network.config import NetworkConfig

        return NetworkConfig(
            root=os.path.join(self.data_root, "network"), netns_dir=os.path.join(self.exec_root, "netns"),
            bridge=self.bridge_name, bridge_name=self.default_bridge_name, bip=self.bridge_cidr,
            fixed_cidr=self.fixed_cidr, ipv6=bool(self.ipv6), fixed_cidr_v6=self.fixed_cidr_v6,
            mtu=int(self.mtu or 0), ip_forward=self.ip_forward,
            iptables=self.iptables, icc=self.icc, userland_proxy=self.userland_proxy,
            firewall_backend=self.firewall_backend,
            port_forwarder=os.path.join(self.exec_root, "slirp4netns.sock") if self.rootless else "",
            default_address_pools=tuple(tuple(p) for p in self.default_address_pools))

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.exec_root, "runtime")

    def runtime_path(self, name: str) -> str:
        """Binary for runtime ``name``.

        Raises:
            InvalidArgument: no runtime of that name is configured.
        """
        table = default_runtimes()
        table.update(self.runtimes)
        if name not in table:
            raise InvalidArgument(f"unknown or invalid runtime name: {name}")
        return table[name]

    def runtime_names(self) -> list[str]:
        table = default_runtimes()
        table.update(self.runtimes)
        return sorted(table)


def tls_context(config: DaemonConfig):
    """The server TLS context for tcp:// listeners, like dockerd's --tls/--tlsverify, or None.

    Raises:
        InvalidArgument: TLS asked for without a certificate and key, or unreadable files.
    """
    if not (config.tls or config.tls_verify):
        return None
    import ssl

    if not (config.tls_cert and config.tls_key):
        raise InvalidArgument("--tls and --tlsverify need --tlscert and --tlskey")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(config.tls_cert, config.tls_key)
        if config.tls_verify:
            if not config.tls_cacert:
                raise InvalidArgument("--tlsverify needs --tlscacert to verify clients")
            ctx.load_verify_locations(config.tls_cacert)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"could not load TLS material: {exc}") from None
    return ctx


_RUNTIMES_TTL = 5.0  # seconds a lookup of the built-in runtimes is reused
_runtimes_cache: tuple[float, str, dict[str, str]] | None = None


def default_runtimes() -> dict[str, str]:
    """Built-in runtimes: hako's own, plus runc and crun when installed. Every create and
    start asks (a search of $PATH, about 1 ms): the answer is reused for a few seconds, so
    a runtime installed or removed while the daemon runs is seen soon after."""
    global _runtimes_cache
    now, search = time.monotonic(), os.environ.get("PATH", "")
    cached = _runtimes_cache
    if cached is not None and cached[1] == search and now - cached[0] < _RUNTIMES_TTL:
        return dict(cached[2])
    own = os.path.join(os.path.dirname(sys.executable), "hako-runtime")
    table = {"hako": own if os.path.exists(own) else "hako-runtime"}
    for name in ("runc", "crun"):
        path = shutil.which(name)
        if path:
            table[name] = path
    _runtimes_cache = (now, search, table)
    return dict(table)


# daemon.json key → DaemonConfig field
_FILE_KEYS = {
    "hosts": "hosts",
    "data-root": "data_root",
    "exec-root": "exec_root",
    "pidfile": "pidfile",
    "log-level": "log_level",
    "debug": "debug",
    "default-runtime": "default_runtime",
    "runtimes": "runtimes",
    "shim": "shim",
    "cgroup-parent": "cgroup_parent",
    "init-path": "init_path",
    "bridge": "bridge_name",
    "bip": "bridge_cidr",
    "fixed-cidr": "fixed_cidr",
    "ipv6": "ipv6",
    "fixed-cidr-v6": "fixed_cidr_v6",
    "mtu": "mtu",
    "ip-forward": "ip_forward",
    "iptables": "iptables",
    "icc": "icc",
    "userland-proxy": "userland_proxy",
    "live-restore": "live_restore",
    "shutdown-timeout": "shutdown_timeout",
    "firewall-backend": "firewall_backend",
    "default-address-pools": "default_address_pools",
    "tls": "tls",
    "tlsverify": "tls_verify",
    "tlscacert": "tls_cacert",
    "tlscert": "tls_cert",
    "tlskey": "tls_key",
    "insecure-registries": "insecure_registries",
    "registry-mirrors": "registry_mirrors",
    "max-concurrent-downloads": "max_concurrent_downloads",
    "max-concurrent-uploads": "max_concurrent_uploads",
    "log-driver": "log_driver",
    "log-opts": "log_opts",
    "userns-remap": "userns_remap",
    "storage-driver": "storage_driver",
}


def load(flags: dict[str, object], config_file: str | None, rootless: bool = False) -> DaemonConfig:
    """Merge explicitly given flags with the config file, like dockerd.

    Args:
        flags: field name → value, only for flags given on the command line.
        config_file: path of a JSON file with daemon.json keys, or None for the default
            (``/etc/hako/daemon.json``; rootless: ``$XDG_CONFIG_HOME/hako/daemon.json``).
        rootless: inside a rootless hakod's namespaces: its defaults for roots and socket.

    Raises:
        InvalidArgument: unreadable file, unknown key, or a directive given both ways.
    """
    values: dict[str, object] = {}
    if config_file is None:
        config_file = _default_config_file(rootless)
    if config_file and os.path.exists(config_file):
        try:
            with open(config_file) as f:
                doc = json.load(f)
        except ValueError as exc:
            raise InvalidArgument(f"unable to configure the Docker daemon with file {config_file}: {exc}") from None
        unknown = sorted(k for k in doc if k not in _FILE_KEYS)
        if unknown:
            raise InvalidArgument(
                f"the following directives don't match any configuration option: {', '.join(unknown)}")
        clash = sorted(k for k in doc if _FILE_KEYS[k] in flags)
        if clash:
            raise InvalidArgument(
                "the following directives are specified both as a flag and in the configuration file: "
                + ", ".join(clash))
        for key, value in doc.items():
            if key == "runtimes":
                value = {n: (v.get("path", n) if isinstance(v, dict) else str(v)) for n, v in value.items()}
            if key == "default-address-pools":
                value = tuple((p["base"], int(p["size"])) for p in value)
            values[_FILE_KEYS[key]] = value
    values.update(flags)
    if rootless:
        from hako.daemon import rootless as rootlessmod

        values = {**rootlessmod.defaults(tuple(values)), **values, "rootless": True}
        own = rootlessmod.delegated_cgroup()
        if own:  # containers under our delegated subtree, unless placed elsewhere
            values = {"cgroup_parent": own.rstrip("/") + "/containers", **values,
                      "cgroup_delegated": True}
        if values.get("userns_remap"):
            raise InvalidArgument("--userns-remap is not supported by rootless hakod")
        if values.get("live_restore"):
            raise InvalidArgument("--live-restore is not supported by rootless hakod: its "
                                  "containers live in the namespaces of the daemon that ran them")
    for key in ("hosts", "insecure_registries", "registry_mirrors"):
        if key in values:
            values[key] = tuple(values[key])  # type: ignore[arg-type]
    config = DaemonConfig(**values)  # type: ignore[arg-type]
    _check_log_config(config)
    _check_shim(config.shim)
    if config.userns_remap:
        from dataclasses import replace

        from hako.daemon import userns

        remap = userns.resolve(config.userns_remap)
        userns.probe_idmap(config.data_root, remap)
        config = replace(config, remap=remap)
    return config


def _default_config_file(rootless: bool) -> str:
    if not rootless:
        return "/etc/hako/daemon.json"
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "hako", "daemon.json")


def _check_shim(shim: str) -> None:
    """The shim must be known, and conmon installed when it is chosen.

    Raises:
        InvalidArgument: an unknown shim, or conmon missing.
    """
    from hako.runtime.shims import KINDS

    if shim not in KINDS:
        raise InvalidArgument(f"invalid shim {shim!r}: expected one of {', '.join(KINDS)}")
    if shim == "conmon":
        from hako.errors import Unsupported
        from hako.runtime.conmon_spawn import conmon_binary

        try:
            conmon_binary()
        except Unsupported as exc:
            raise InvalidArgument(str(exc)) from None


def _check_log_config(config: DaemonConfig) -> None:
    """dockerd refuses to start with a default log driver or options it cannot use.

    Raises:
        InvalidArgument: the driver or an option key is unknown.
    """
    from hako.daemon import logconfig

    if not isinstance(config.log_opts, dict) or not all(
            isinstance(v, str) for v in config.log_opts.values()):
        raise InvalidArgument("log-opts must be a map of strings")
    logconfig.validate({"Type": config.log_driver, "Config": config.log_opts})
