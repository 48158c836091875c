"""``run``/``create`` flags → the Engine API container create body.

``add_run_flags(parser)`` declares docker's flags; ``build_create_body(opts, image, cmd,
environ)`` turns parsed options into ``{Config…, HostConfig, NetworkingConfig}``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from hako.cli import runextra
from hako.cli.parsing import Parser, go_int
from hako.errors import InvalidArgument
from hako.opts import env as envopts
from hako.opts import mounts, ports, resources, restart
from hako.support.units import parse_go_duration


def _typed(fn):
    """Wrap an opts parser so argparse reports docker's 'invalid argument' text."""
    def conv(text: str):
        try:
            return fn(text)
        except InvalidArgument as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    conv.__name__ = fn.__name__
    return conv


def add_run_flags(p: Parser) -> None:
    """Declare the flags shared by ``run`` and ``create``."""
    p.multi("-a", "--attach")
    p.multi("--add-host")
    p.multi("--cap-add")
    p.multi("--cap-drop")
    p.option("--cidfile")
    p.option("-c", "--cpu-shares", type=go_int)
    p.option("--cpus", type=_typed(resources.parse_cpus))
    p.option("--cpuset-cpus")
    p.option("--cpuset-mems")
    p.multi("--device")
    p.multi("--dns")
    p.multi("--dns-search")
    p.multi("--dns-option")
    p.option("--domainname")
    p.option("--entrypoint")
    p.multi("-e", "--env")
    p.multi("--env-file")
    p.multi("--expose")
    p.multi("--group-add")
    p.option("-h", "--hostname")
    _add_health_flags(p)
    p.flag("--init")
    p.flag("-i", "--interactive")
    p.option("--ip")
    p.option("--ip6")
    p.option("--ipc")
    p.multi("-l", "--label")
    p.multi("--label-file")
    p.multi("--link")
    p.multi("--link-local-ip")
    p.option("--log-driver")
    p.multi("--log-opt")
    p.option("--mac-address")
    p.option("-m", "--memory", type=_typed(resources.parse_memory))
    p.option("--memory-reservation", type=_typed(resources.parse_memory))
    p.option("--memory-swap", type=_typed(resources.parse_memory_swap))
    p.multi("--mount", type=_typed(mounts.parse_mount))
    p.option("--name")
    p.option("--network", "--net", default="default", type=runextra.network_flag)
    p.multi("--network-alias", "--net-alias")
    p.flag("--oom-kill-disable")
    p.option("--oom-score-adj", type=go_int)
    p.option("--pid")
    p.option("--pids-limit", type=go_int)
    p.option("--platform")
    p.flag("--privileged")
    p.multi("-p", "--publish", type=_typed(ports.parse_publish))
    p.flag("-P", "--publish-all")
    p.option("--pull", default="missing")
    p.flag("-q", "--quiet")
    p.flag("--read-only")
    p.option("--restart", default="no", type=_typed(restart.parse))
    p.flag("--rm")
    p.option("--runtime")
    p.multi("--security-opt")
    p.option("--shm-size", type=_typed(resources.parse_memory))
    p.option("--stop-signal")
    p.option("--stop-timeout", type=go_int)
    p.multi("--sysctl")
    p.multi("--tmpfs", type=_typed(mounts.parse_tmpfs))
    p.flag("-t", "--tty")
    p.multi("--ulimit", type=_typed(resources.parse_ulimit))
    p.option("-u", "--user")
    p.option("--userns")
    p.option("--uts")
    p.multi("-v", "--volume", type=_typed(mounts.parse_volume))
    p.multi("--volumes-from")
    p.option("-w", "--workdir")
    runextra.add_extra_run_flags(p)


_HEALTH_DURATIONS = ("interval", "timeout", "start-period", "start-interval")


def _add_health_flags(p: Parser) -> None:
    p.option("--health-cmd", default="")
    for name in _HEALTH_DURATIONS:
        p.option(f"--health-{name}", default=0, type=_typed(parse_go_duration))
    p.option("--health-retries", default=0, type=go_int)
    p.flag("--no-healthcheck")


def healthcheck(opts: argparse.Namespace) -> dict[str, Any] | None:
    """The create body's ``Healthcheck`` from the --health-* flags (docker's parse).

    Raises:
        InvalidArgument: docker's texts (``--no-healthcheck conflicts with --health-*
        options``, ``--health-interval cannot be negative``, ...).
    """
    durations = {name: getattr(opts, "health_" + name.replace("-", "_")) for name in _HEALTH_DURATIONS}
    if opts.no_healthcheck:
        if opts.health_cmd or opts.health_retries or any(durations.values()):
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not (opts.health_cmd or opts.health_retries or any(durations.values())):
        return None
    for name in ("interval", "timeout"):
        if durations[name] < 0:
            raise InvalidArgument(f"--health-{name} cannot be negative")
    if opts.health_retries < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    for name in ("start-period", "start-interval"):
        if durations[name] < 0:
            raise InvalidArgument(f"--health-{name} cannot be negative")
    hc = {"Test": ["CMD-SHELL", opts.health_cmd] if opts.health_cmd else None,
          "Interval": durations["interval"], "Timeout": durations["timeout"],
          "StartPeriod": durations["start-period"], "StartInterval": durations["start-interval"],
          "Retries": opts.health_retries}
    return {k: v for k, v in hc.items() if v}  # omitempty, as the docker CLI sends it


# flags newer than API 1.41 (hakod's), as the docker CLI annotates them: dest -> (flag, version)
_FLAG_VERSIONS = {"annotation": ("--annotation", (1, 43)),
                  "health_start_interval": ("--health-start-interval", (1, 44))}


def version_errors(opts: argparse.Namespace, api_version: Any) -> str | None:
    """docker's check of flags newer than the daemon's API (``--annotation`` needs 1.43,
    ``--health-start-interval`` 1.44; the first refused flag by name, as docker's lexical
    walk finds it); ``api_version()`` is called only when such a flag was given.

    Returns:
        docker's text for the refused flag, or None.
    """
    given = sorted(f for dest, f in _FLAG_VERSIONS.items() if getattr(opts, dest, None))
    if not given:
        return None
    version = api_version()
    have = tuple(int(p) for p in version.split("."))
    for flag, need in given:
        if have < need:
            return (f'"{flag}" requires API version {need[0]}.{need[1]}, but the Docker daemon '
                    f"API version is {version}")
    return None


def _labels(opts: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    items: list[str] = []
    for path in opts.label_file:
        items += envopts.read_env_file(path, {})
    items += opts.label
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    if getattr(opts, "systemd", None) is not None:  # hakod reads it (daemon/systemd_mode.py)
        out["io.hako.systemd"] = opts.systemd
    return out


def _mount_wire(m: mounts.MountSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"Type": m.type, "Source": m.source, "Target": m.target,
                           "ReadOnly": m.read_only}
    if m.propagation:
        doc["BindOptions"] = {"Propagation": m.propagation}
    if m.tmpfs_size is not None or m.tmpfs_mode is not None:
        doc["TmpfsOptions"] = {k: v for k, v in (("SizeBytes", m.tmpfs_size),
                                                 ("Mode", m.tmpfs_mode)) if v is not None}
    x = m.extra
    if x.get("bind-nonrecursive") in ("1", "true"):
        doc.setdefault("BindOptions", {})["NonRecursive"] = True
    vol: dict[str, Any] = {}
    if x.get("volume-nocopy") in ("1", "true"):
        vol["NoCopy"] = True
    if x.get("volume-label"):
        vol["Labels"] = dict(x["volume-label"])
    if x.get("volume-driver") or x.get("volume-opt"):
        vol["DriverConfig"] = {"Name": x.get("volume-driver") or "",
                               "Options": dict(x.get("volume-opt") or {})}
    if vol:
        doc["VolumeOptions"] = vol
    if x.get("consistency"):
        doc["Consistency"] = x["consistency"]
    return doc


def _storage(opts: argparse.Namespace) -> tuple[list[str], dict[str, dict], list[dict]]:
    binds, volumes = [], {}
    for v in opts.volume:
        if v.source:
            # the docker CLI (23+) makes ./relative host paths absolute
            source = os.path.abspath(v.source) if v.source.startswith(".") else v.source
            binds.append(":".join([source, v.target] + list(v.options)))
        else:
            volumes[v.target] = {}
    return binds, volumes, [_mount_wire(m) for m in opts.mount]


def _ports(opts: argparse.Namespace) -> tuple[dict[str, dict], dict[str, list]]:
    bindings = [b for group in opts.publish for b in group]
    exposed = {b.key: {} for b in bindings}
    for spec in opts.expose:
        try:
            exposed.update({k: {} for k in ports.parse_expose(spec)})
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid argument {spec!r} for --expose: {exc}") from exc
    return exposed, ports.to_port_map(bindings)


def _attach_streams(opts: argparse.Namespace, detach: bool) -> tuple[bool, bool, bool]:
    if detach:
        return False, False, False
    streams = {s.lower() for s in opts.attach}
    for s in streams:
        if s not in ("stdin", "stdout", "stderr"):
            raise InvalidArgument("valid streams are STDIN, STDOUT and STDERR")
    if not streams:
        return opts.interactive, True, True
    return "stdin" in streams or opts.interactive, "stdout" in streams, "stderr" in streams


def build_create_body(opts: argparse.Namespace, image: str, cmd: list[str],
                      environ: Mapping[str, str] | None = None,
                      detach: bool = False) -> dict[str, Any]:
    """Build the POST /containers/create body from run/create options.

    Raises:
        InvalidArgument: conflicting or malformed options (docker's texts).
    """
    environ = os.environ if environ is None else environ
    if opts.rm and opts.restart.name not in ("", "no"):
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    stdin, stdout, stderr = _attach_streams(opts, detach)
    network, per_network = runextra.parse_network(opts.network)
    opts = argparse.Namespace(**dict(vars(opts), network=network))
    binds, volumes, mount_list = _storage(opts)
    exposed, port_map = _ports(opts)
    config: dict[str, Any] = {
        "Hostname": opts.hostname or "", "Domainname": opts.domainname or "",
        "User": opts.user or "",
        "AttachStdin": stdin, "AttachStdout": stdout, "AttachStderr": stderr,
        "ExposedPorts": exposed or None, "Tty": opts.tty, "OpenStdin": opts.interactive,
        "StdinOnce": stdin, "Env": envopts.merge_env(opts.env_file, opts.env, environ),
        "Cmd": cmd or None, "Image": image, "Volumes": volumes or None,
        "WorkingDir": opts.workdir or "",
        "Entrypoint": None if opts.entrypoint is None else [opts.entrypoint],
        "Labels": _labels(opts, environ),
    }
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if opts.stop_timeout is not None:
        config["StopTimeout"] = opts.stop_timeout
    health = healthcheck(opts)
    if health is not None:
        config["Healthcheck"] = health
    host = _host_config(opts, binds, mount_list, port_map)
    body = dict(config, HostConfig=host)
    if opts.mac_address:  # API < 1.44: the container's MAC (on its first network)
        body["MacAddress"] = opts.mac_address
    endpoint = _endpoint(opts, per_network)
    body["NetworkingConfig"] = {"EndpointsConfig": {opts.network: endpoint} if endpoint else {}}
    return body


# per-network setting → (flag, docker's name for the per-network one) when both are given
_CONFLICTS = {"Aliases": ("network_alias", "--network-alias", "alias"),
              "IPv4Address": ("ip", "--ip", "IPv4 address"),
              "IPv6Address": ("ip6", "--ip6", "IPv6 address"),
              "MacAddress": ("mac_address", "--mac-address", "MAC address"),
              "LinkLocalIPs": ("link_local_ip", "--link-local-ip", "link-local IP addresses")}


def _endpoint(opts: argparse.Namespace, per_network: dict[str, Any]) -> dict[str, Any]:
    """The endpoint settings of the container's network, as the docker CLI makes them:
    those of ``--network``'s long syntax, or aliases, addresses, and ``--link`` on a
    user-defined network (a legacy link on the default bridge, in HostConfig.Links only).

    Raises:
        InvalidArgument: aliases on a built-in network, a setting given both ways (the
            docker CLI's texts).
    """
    flat = dict(per_network, **per_network.get("IPAMConfig", {}))
    for key, (dest, flag, what) in _CONFLICTS.items():
        if flat.get(key) and getattr(opts, dest, None):
            raise InvalidArgument(f"conflicting options: cannot specify both {flag} and per-network {what}")
    user_defined = opts.network not in ("default", "bridge", "host", "none") and \
        not opts.network.startswith("container:")
    endpoint: dict[str, Any] = {k: v for k, v in per_network.items() if k != "IPAMConfig"}
    if opts.network_alias:
        if not user_defined:
            raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
        endpoint["Aliases"] = list(opts.network_alias)
    if opts.link and user_defined:
        endpoint["Links"] = list(opts.link)
    ipam = {key: value for key, value in (("IPv4Address", opts.ip), ("IPv6Address", opts.ip6),
                                          ("LinkLocalIPs", opts.link_local_ip)) if value}
    ipam.update(per_network.get("IPAMConfig", {}))
    if ipam:
        endpoint["IPAMConfig"] = ipam
    return endpoint


def _host_config(opts: argparse.Namespace, binds: list[str], mount_list: list[dict],
                 port_map: dict[str, list]) -> dict[str, Any]:
    log_opts = dict(o.partition("=")[::2] for o in opts.log_opt)
    if opts.log_driver == "none" and log_opts:
        raise InvalidArgument("invalid logging opts for driver none")
    ulimits = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in opts.ulimit]
    host: dict[str, Any] = {
        "Binds": binds or None, "ContainerIDFile": opts.cidfile or "",
        "LogConfig": {"Type": opts.log_driver or "", "Config": log_opts},
        "NetworkMode": opts.network, "PortBindings": port_map,
        "RestartPolicy": {"Name": opts.restart.name,
                          "MaximumRetryCount": opts.restart.maximum_retry_count},
        "AutoRemove": opts.rm, "VolumesFrom": opts.volumes_from or None,
        "CapAdd": opts.cap_add or None, "CapDrop": opts.cap_drop or None,
        "Dns": opts.dns, "DnsOptions": opts.dns_option, "DnsSearch": opts.dns_search,
        "ExtraHosts": opts.add_host or None, "GroupAdd": opts.group_add or None,
        "IpcMode": opts.ipc or "", "Links": opts.link or None,
        "OomScoreAdj": opts.oom_score_adj or 0, "PidMode": opts.pid or "",
        "Privileged": opts.privileged, "PublishAllPorts": opts.publish_all,
        "ReadonlyRootfs": opts.read_only, "SecurityOpt": security_opts(opts.security_opt) or None,
        "UTSMode": opts.uts or "", "UsernsMode": opts.userns or "",
        "ShmSize": opts.shm_size or 0,
        "CpuShares": opts.cpu_shares or 0, "Memory": opts.memory or 0,
        "NanoCpus": opts.cpus or 0, "CpusetCpus": opts.cpuset_cpus or "",
        "CpusetMems": opts.cpuset_mems or "",
        "MemoryReservation": opts.memory_reservation or 0,
        "MemorySwap": opts.memory_swap or 0,
        "OomKillDisable": opts.oom_kill_disable, "PidsLimit": opts.pids_limit,
        "Ulimits": ulimits or None, "Mounts": mount_list or None,
        "Devices": [_device(d) for d in opts.device],
    }
    if opts.tmpfs:
        host["Tmpfs"] = dict(opts.tmpfs)
    if opts.sysctl:
        host["Sysctls"] = dict(s.partition("=")[::2] for s in opts.sysctl)
    if opts.init:
        host["Init"] = True
    if opts.runtime:
        host["Runtime"] = opts.runtime
    host.update(runextra.extra_host_config(opts))
    return host


def security_opts(values: list[str] | None) -> list[str]:
    """--security-opt values as the docker CLI sends them: ``seccomp=FILE`` becomes
    ``seccomp=<the file's JSON, compacted>`` (read here, client-side);
    ``seccomp=unconfined`` and ``seccomp=builtin`` stay names.

    Raises:
        InvalidArgument: docker's texts for a malformed option or an unreadable profile.
    """
    out = []
    for opt in values or []:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise InvalidArgument(f"Invalid --security-opt: {opt!r}".replace("'", '"'))
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            try:
                with open(value, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise InvalidArgument(f"opening seccomp profile ({value}) failed: "
                                      f"open {value}: {exc.strerror.lower()}") from None
            try:
                compact = _compact_json(data.decode("utf-8"))
            except ValueError as exc:
                raise InvalidArgument(f"compacting json for seccomp profile ({value}) "
                                      f"failed: {exc}") from None
            opt = "seccomp=" + compact
        out.append(opt)
    return out


def _compact_json(text: str) -> str:
    """Go's json.Compact: the same document without insignificant whitespace (keys, order
    and number spellings kept). Raises ValueError when it is not JSON."""
    import json

    json.loads(text)
    out, in_string, escaped = [], False, False
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch not in " \t\r\n":
            out.append(ch)
    return "".join(out)


def _device(spec: str) -> dict[str, str]:
    parts = spec.split(":")
    src = parts[0]
    dst = parts[1] if len(parts) > 1 and parts[1].startswith("/") else src
    perms = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    return {"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}
