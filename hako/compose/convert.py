"""Pure conversion of a normalised service into Engine API request bodies.

``container_body`` gives the ``POST /containers/create`` body of replica ``number`` of a
service; ``network_body``/``volume_body`` the bodies of the project's resources. Names and
labels are compose v2's: containers ``<project>-<service>-<n>``, networks
``<project>_<name>``, volumes ``<project>_<name>``, and ``com.docker.compose.*`` labels with
the config hash (sha256 of the service's normalised JSON without build, pull_policy, scale,
depends_on and profiles, replicas counted as 1).

Service keys hako compose cannot honour are refused (``services.web.gpus is not supported
by hako compose``), never ignored. Everything else maps onto an Engine API field, which the
daemon honours or refuses.

May import: errors, support, opts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hako.compose import labels as L
from hako.compose.model import Project, Service

UNSUPPORTED = ("develop", "gpus", "models", "provider", "post_start", "pre_stop",
               "credential_spec", "use_api_socket", "cgroup", "isolation",
               "storage_opt", "cpu_count", "cpu_percent",
               "cpu_rt_period", "cpu_rt_runtime", "pull_refresh_after")
# deploy keys honoured without swarm: replicas, resources.limits, resources.reservations.memory,
# restart_policy; the rest describes a swarm service
DEPLOY_UNSUPPORTED = ("endpoint_mode", "labels", "rollback_config", "update_config",
                      "placement")
PULL_POLICIES = ("always", "never", "build", "missing", "if_not_present")
_HASH_DROP = ("build", "pull_policy", "scale", "depends_on", "profiles")


def check_supported(project: Project) -> None:
    """Refuse the keys hako compose does not implement.

    Raises:
        ComposeError: naming the key's file, line and path.
    """
    for name, svc in project.services.items():
        for key in UNSUPPORTED:
            if svc.get(key) not in (None, [], {}):
                raise project.marks.error("is not supported by hako compose",
                                          ("services", name, key))
        _check_deploy(project, name, svc.get("deploy") or {})
        policy = svc.get("pull_policy")
        if policy and policy not in PULL_POLICIES:
            raise project.marks.error(f"pull_policy {policy!r} is not supported by hako "
                                      f"compose ({', '.join(PULL_POLICIES)})",
                                      ("services", name, "pull_policy"))
        for kind in ("secrets", "configs"):
            for ref in svc.get(kind) or []:
                res = getattr(project, kind).get(ref["source"], {})
                if not res.get("file"):
                    raise project.marks.error(
                        f"{kind} {ref['source']!r}: only file-based {kind} are supported "
                        "(as compose does without swarm)", ("services", name, kind))
                extra = sorted(set(res) - {"file"})
                if extra:
                    raise project.marks.error("is not supported by hako compose (file-based "
                                              f"{kind} are bind mounts)",
                                              (kind, ref["source"], extra[0]))
                for key in ("uid", "gid", "mode"):
                    if key in ref:
                        raise project.marks.error(
                            "is not supported by hako compose (the file is bind-mounted "
                            "read-only as it is)", ("services", name, kind))
    for key, net in project.networks.items():
        if str(net.get("enable_ipv4", True)).lower() == "false":
            raise project.marks.error("is not supported by hako compose (Engine API 1.41)",
                                      ("networks", key, "enable_ipv4"))


def _check_deploy(project: Project, name: str, deploy: dict[str, Any]) -> None:
    base = ("services", name, "deploy")
    bad = [k for k in DEPLOY_UNSUPPORTED if deploy.get(k) not in (None, [], {})]
    if deploy.get("mode") not in (None, "replicated"):
        bad.append("mode")
    reservations = (deploy.get("resources") or {}).get("reservations") or {}
    bad += [f"resources.reservations.{k}" for k in reservations if k != "memory"]
    if bad:
        raise project.marks.error("is not supported by hako compose (a swarm setting)",
                                  base + tuple(bad[0].split(".")))


def config_hash(svc: Service) -> str:
    """compose's ``com.docker.compose.config-hash`` of a service."""
    spec = {k: v for k, v in svc.spec.items() if k not in _HASH_DROP}
    if isinstance(spec.get("deploy"), dict):
        spec["deploy"] = {**spec["deploy"], "replicas": 1}
    data = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def image_name(project: Project, svc: Service) -> str:
    """The service's image, or compose's default name for a built one."""
    return svc.get("image") or f"{project.name}-{svc.name}"


def container_name(project: Project, svc: Service, number: int) -> str:
    return svc.get("container_name") or f"{project.name}-{svc.name}-{number}"


def _nanos(text: Any) -> int:
    from hako.support.units import parse_duration

    return int(round(parse_duration(str(text)) * 1e9))


def _seconds(text: Any) -> int:
    from hako.support.units import parse_duration

    return int(parse_duration(str(text)))


def _bytes(value: Any) -> int:
    from hako.support.units import parse_ram_size

    return value if isinstance(value, int) else parse_ram_size(str(value))


def project_labels(project: Project) -> dict[str, str]:
    return {L.PROJECT: project.name, L.WORKING_DIR: project.working_dir,
            L.CONFIG_FILES: ",".join(project.config_files), L.VERSION: L.COMPOSE_VERSION}


def container_labels(project: Project, svc: Service, number: int, oneoff: bool = False
                     ) -> dict[str, str]:
    labels = dict(svc.get("labels") or {})
    labels.update(project_labels(project))
    labels.update({
        L.SERVICE: svc.name, L.NUMBER: str(number), L.ONEOFF: "True" if oneoff else "False",
        L.CONFIG_HASH: config_hash(svc),
        L.DEPENDS_ON: ",".join(f"{d}:{c['condition']}:{str(c.get('restart', False)).lower()}"
                               for d, c in svc.depends_on.items()),
    })
    return labels


def _env(svc: Service) -> list[str]:
    return [f"{k}={v}" for k, v in (svc.get("environment") or {}).items() if v is not None]


def _ports(svc: Service) -> tuple[dict[str, dict], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for e in svc.get("expose") or []:
        from hako.opts.ports import parse_expose

        for key in parse_expose(e):
            exposed[key] = {}
    for p in svc.get("ports") or []:
        key = f"{p['target']}/{p.get('protocol', 'tcp')}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": p.get("host_ip", ""),
                                             "HostPort": str(p.get("published", ""))})
    return exposed, bindings


def _healthcheck(hc: dict[str, Any] | None) -> dict[str, Any] | None:
    if not hc:
        return None
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if hc.get("test"):
        out["Test"] = list(hc["test"])
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if hc.get(key):
            out[api] = _nanos(hc[key])
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def _mounts(project: Project, svc: Service) -> tuple[list[str], list[dict[str, Any]]]:
    """(Binds, Mounts): binds that may create their host path go as Binds, the rest Mounts."""
    binds: list[str] = []
    mounts: list[dict[str, Any]] = []
    for v in svc.get("volumes") or []:
        kind = v.get("type", "volume")
        bind = v.get("bind") or {}
        if kind == "bind" and bind.get("create_host_path"):
            opts = ["ro" if v.get("read_only") else "rw"]
            opts += [o for o in (bind.get("propagation"), bind.get("selinux")) if o]
            binds.append(f"{v['source']}:{v['target']}:{','.join(opts)}")
            continue
        m: dict[str, Any] = {"Type": kind, "Target": v["target"]}
        if v.get("source"):
            m["Source"] = project.volumes[v["source"]]["name"] if kind == "volume" and \
                v["source"] in project.volumes else v["source"]
        if v.get("read_only"):
            m["ReadOnly"] = True
        if kind == "bind" and bind.get("propagation"):
            m["BindOptions"] = {"Propagation": bind["propagation"]}
        if kind == "volume" and (v.get("volume") or {}).get("nocopy"):
            m["VolumeOptions"] = {"NoCopy": True}
        if kind == "tmpfs" and v.get("tmpfs"):
            t = v["tmpfs"]
            m["TmpfsOptions"] = {k: val for k, val in (
                ("SizeBytes", _bytes(t["size"]) if "size" in t else None),
                ("Mode", int(str(t["mode"]), 8) if "mode" in t else None)) if val is not None}
        mounts.append(m)
    for kind, base in (("secrets", "/run/secrets/"), ("configs", "/")):
        for ref in svc.get(kind) or []:
            res = getattr(project, kind)[ref["source"]]
            target = ref.get("target") or ref["source"]
            if not target.startswith("/"):
                target = base + target
            mounts.append({"Type": "bind", "Source": res["file"], "Target": target,
                           "ReadOnly": True})
    return binds, mounts


def _restart(text: str | None, deploy: dict[str, Any] | None = None) -> dict[str, Any] | None:
    policy = (deploy or {}).get("restart_policy")
    if not text and policy:  # compose maps deploy.restart_policy when restart is unset
        name = {"none": "no", "on-failure": "on-failure", "any": "always"}.get(
            policy.get("condition", "any"), "")
        if not name:
            from hako.errors import InvalidArgument

            raise InvalidArgument(f"invalid restart policy condition {policy['condition']!r}")
        return {"Name": "" if name == "no" else name,
                "MaximumRetryCount": int(policy.get("max_attempts") or 0)}
    if not text:
        return None
    from hako.opts.restart import parse

    policy = parse(text)
    return {"Name": "" if policy.name == "no" else policy.name,
            "MaximumRetryCount": policy.maximum_retry_count}


def _resources(svc: Service) -> dict[str, Any]:
    from hako.opts.resources import parse_cpus

    out: dict[str, Any] = {}
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    cpus = limits.get("cpus", svc.get("cpus"))
    if cpus not in (None, "", 0):
        out["NanoCpus"] = parse_cpus(str(cpus))
    reserved = ((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    if reserved.get("memory"):
        out["MemoryReservation"] = _bytes(reserved["memory"])
    memory = limits.get("memory", svc.get("mem_limit"))
    if memory not in (None, ""):
        out["Memory"] = _bytes(memory)
    pids = limits.get("pids", svc.get("pids_limit"))
    if pids not in (None, ""):
        out["PidsLimit"] = int(pids)
    simple = (("cpu_shares", "CpuShares", int), ("cpu_quota", "CpuQuota", int),
              ("cpu_period", "CpuPeriod", int), ("cpuset", "CpusetCpus", str),
              ("mem_reservation", "MemoryReservation", _bytes),
              ("memswap_limit", "MemorySwap", _bytes), ("mem_swappiness", "MemorySwappiness", int),
              ("oom_kill_disable", "OomKillDisable", bool), ("oom_score_adj", "OomScoreAdj", int),
              ("shm_size", "ShmSize", _bytes))
    for key, api, cast in simple:
        if svc.get(key) is not None:
            out[api] = cast(svc.get(key))
    bio = svc.get("blkio_config") or {}
    if bio.get("weight") is not None:
        out["BlkioWeight"] = int(bio["weight"])
    if bio.get("weight_device"):
        out["BlkioWeightDevice"] = [{"Path": d["path"], "Weight": int(d["weight"])}
                                    for d in bio["weight_device"]]
    for key, api, cast in (("device_read_bps", "BlkioDeviceReadBps", _bytes),
                           ("device_write_bps", "BlkioDeviceWriteBps", _bytes),
                           ("device_read_iops", "BlkioDeviceReadIOps", int),
                           ("device_write_iops", "BlkioDeviceWriteIOps", int)):
        if bio.get(key):
            out[api] = [{"Path": d["path"], "Rate": cast(d["rate"])} for d in bio[key]]
    if svc.get("device_cgroup_rules"):
        out["DeviceCgroupRules"] = [str(r) for r in svc.get("device_cgroup_rules")]
    if svc.get("ulimits"):
        out["Ulimits"] = [{"Name": n, "Soft": int(v["soft"]), "Hard": int(v["hard"])}
                          if isinstance(v, dict) else {"Name": n, "Soft": int(v), "Hard": int(v)}
                          for n, v in svc.get("ulimits").items()]
    return out


def _link_aliases(project: Project, svc: Service) -> list[str]:
    """Aliases other services give ``svc`` through ``links: [svc:alias]``."""
    out = []
    for other in project.services.values():
        for link in other.get("links") or []:
            target, _, alias = link.partition(":")
            if target == svc.name and alias and alias != svc.name and alias not in out:
                out.append(alias)
    return out


def endpoints(project: Project, svc: Service) -> list[tuple[str, dict[str, Any]]]:
    """(network name, EndpointSettings) for each network of the service, primary first."""
    nets = svc.get("networks") or {}
    order = sorted(nets, key=lambda n: (-((nets[n] or {}).get("priority") or 0), n))
    out = []
    for key in order:
        conf = nets[key] or {}
        aliases = [svc.name] + [a for a in conf.get("aliases") or [] if a != svc.name]
        aliases += [a for a in _link_aliases(project, svc) if a not in aliases]
        ep: dict[str, Any] = {"Aliases": aliases}
        if conf.get("ipv4_address"):
            ep["IPAMConfig"] = {"IPv4Address": conf["ipv4_address"]}
        out.append((project.networks[key]["name"], ep))
    return out


def _network_mode(project: Project, svc: Service) -> str:
    mode = svc.get("network_mode")
    if mode:
        if mode.startswith("service:"):
            other = project.services[mode[len("service:"):]]
            return "container:" + container_name(project, other, 1)
        return mode
    eps = endpoints(project, svc)
    return eps[0][0] if eps else "default"


def _links(project: Project, svc: Service) -> list[str]:
    """Legacy links, only on the default bridge (elsewhere they are DNS aliases)."""
    if svc.get("network_mode") != "bridge":
        return []
    out = []
    for link in svc.get("links") or []:
        target, _, alias = link.partition(":")
        cname = container_name(project, project.services[target], 1)
        out.append(f"{cname}:{alias or target}")
    return out + list(svc.get("external_links") or [])


def _volumes_from(project: Project, svc: Service) -> list[str]:
    out = []
    for vf in svc.get("volumes_from") or []:
        if vf.startswith("container:"):
            out.append(vf[len("container:"):])
            continue
        name, _, mode = vf.partition(":")
        cname = container_name(project, project.services[name], 1)
        out.append(f"{cname}:{mode}" if mode else cname)
    return out


def host_config(project: Project, svc: Service) -> dict[str, Any]:
    """The ``HostConfig`` of a service's containers."""
    binds, mounts = _mounts(project, svc)
    _, bindings = _ports(svc)
    hc: dict[str, Any] = {"NetworkMode": _network_mode(project, svc), **_resources(svc)}
    fields = (("Binds", binds), ("Mounts", mounts), ("PortBindings", bindings),
              ("RestartPolicy", _restart(svc.get("restart"), svc.get("deploy"))),
              ("Links", _links(project, svc)), ("VolumesFrom", _volumes_from(project, svc)),
              ("CapAdd", svc.get("cap_add")), ("CapDrop", svc.get("cap_drop")),
              ("Privileged", svc.get("privileged")), ("ReadonlyRootfs", svc.get("read_only")),
              ("Init", svc.get("init")), ("Dns", svc.get("dns")),
              ("DnsSearch", svc.get("dns_search")), ("DnsOptions", svc.get("dns_opt")),
              ("ExtraHosts", [h.replace("=", ":", 1) for h in svc.get("extra_hosts") or []]),
              ("Sysctls", svc.get("sysctls")), ("SecurityOpt", svc.get("security_opt")),
              ("Annotations", svc.get("annotations")),
              ("GroupAdd", [str(g) for g in svc.get("group_add") or []]),
              ("IpcMode", svc.get("ipc")), ("PidMode", svc.get("pid")),
              ("UTSMode", svc.get("uts")), ("UsernsMode", svc.get("userns_mode")),
              ("CgroupParent", svc.get("cgroup_parent")), ("Runtime", svc.get("runtime")))
    for key, value in fields:
        if value not in (None, [], {}, ""):
            hc[key] = value
    if svc.get("tmpfs"):
        hc["Tmpfs"] = {t.partition(":")[0]: t.partition(":")[2] for t in svc.get("tmpfs")}
    if svc.get("devices"):
        hc["Devices"] = [_device(d) for d in svc.get("devices")]
    if svc.get("logging"):
        log = svc.get("logging")
        hc["LogConfig"] = {"Type": log.get("driver", "json-file"),
                           "Config": {k: str(v) for k, v in (log.get("options") or {}).items()}}
    return hc


def _device(d: Any) -> dict[str, str]:
    if isinstance(d, dict):
        return {"PathOnHost": d["source"], "PathInContainer": d.get("target", d["source"]),
                "CgroupPermissions": d.get("permissions", "rwm")}
    parts = d.split(":")
    return {"PathOnHost": parts[0], "PathInContainer": parts[1] if len(parts) > 1 else parts[0],
            "CgroupPermissions": parts[2] if len(parts) > 2 else "rwm"}


def container_body(project: Project, svc: Service, number: int, oneoff: bool = False
                   ) -> dict[str, Any]:
    """The ``POST /containers/create`` body of replica ``number`` (networks beyond the
    first are connected after create: see :func:`endpoints`)."""
    exposed, _ = _ports(svc)
    body: dict[str, Any] = {"Image": image_name(project, svc),
                            "Labels": container_labels(project, svc, number, oneoff)}
    fields = (("Cmd", svc.get("command")), ("Entrypoint", svc.get("entrypoint")),
              ("Env", _env(svc)), ("User", svc.get("user")),
              ("WorkingDir", svc.get("working_dir")), ("Hostname", svc.get("hostname")),
              ("Domainname", svc.get("domainname")), ("ExposedPorts", exposed),
              ("Tty", svc.get("tty")), ("OpenStdin", svc.get("stdin_open")),
              ("StopSignal", svc.get("stop_signal")),
              ("Healthcheck", _healthcheck(svc.get("healthcheck"))),
              ("MacAddress", svc.get("mac_address")))
    for key, value in fields:
        if value not in (None, [], {}, "") or (key in ("Cmd", "Entrypoint") and value == []):
            body[key] = value
    if svc.get("stop_grace_period"):
        body["StopTimeout"] = _seconds(svc.get("stop_grace_period"))
    body["HostConfig"] = host_config(project, svc)
    eps = endpoints(project, svc) if not svc.get("network_mode") else []
    if eps:
        body["NetworkingConfig"] = {"EndpointsConfig": {eps[0][0]: eps[0][1]}}
    return body


def network_body(project: Project, key: str) -> dict[str, Any]:
    """``POST /networks/create`` body of a project network (not for external ones)."""
    net = project.networks[key]
    labels = dict(net.get("labels") or {}) if isinstance(net.get("labels"), dict) else \
        {i.partition("=")[0]: i.partition("=")[2] for i in net.get("labels") or []}
    labels.update({L.PROJECT: project.name, L.NETWORK: key, L.VERSION: L.COMPOSE_VERSION})
    body: dict[str, Any] = {"Name": net["name"], "Driver": net.get("driver") or "bridge",
                            "Labels": labels, "CheckDuplicate": True}
    if net.get("internal") is not None:
        body["Internal"] = bool(net["internal"]) if isinstance(net["internal"], bool) else \
            str(net["internal"]).lower() == "true"
    if net.get("attachable"):
        body["Attachable"] = True
    if str(net.get("enable_ipv6", False)).lower() == "true":
        body["EnableIPv6"] = True
    if net.get("driver_opts"):
        body["Options"] = {k: str(v) for k, v in net["driver_opts"].items()}
    ipam = net.get("ipam") or {}
    if ipam:
        body["IPAM"] = {"Driver": ipam.get("driver") or "default", "Options": ipam.get("options"),
                        "Config": [{k2: c[k1] for k1, k2 in (("subnet", "Subnet"),
                                                             ("ip_range", "IPRange"),
                                                             ("gateway", "Gateway"),
                                                             ("aux_addresses", "AuxiliaryAddresses"))
                                    if k1 in c} for c in ipam.get("config") or []]}
    return body


def volume_body(project: Project, key: str) -> dict[str, Any]:
    """``POST /volumes/create`` body of a project volume (not for external ones)."""
    vol = project.volumes[key]
    labels = vol.get("labels") or {}
    if isinstance(labels, list):
        labels = {i.partition("=")[0]: i.partition("=")[2] for i in labels}
    labels = {**{k: str(v) for k, v in labels.items()}, L.PROJECT: project.name,
              L.VOLUME: key, L.VERSION: L.COMPOSE_VERSION}
    return {"Name": vol["name"], "Driver": vol.get("driver") or "local",
            "DriverOpts": {k: str(v) for k, v in (vol.get("driver_opts") or {}).items()},
            "Labels": labels}
