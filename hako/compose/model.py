"""The normalised project: long forms everywhere, as ``docker compose config`` prints it.

``Project`` holds the services (``Service``: a name and its normalised mapping), networks,
volumes, secrets and configs. Normalisation: environment/labels/sysctls → mappings (with
``env_file`` contents merged into ``environment``), ports/volumes/secrets/configs → long
syntax, ``depends_on`` → mapping with conditions, ``command``/``entrypoint`` → lists,
``networks`` → mapping (``default`` when none is given), boolean-ish strings → booleans.

May import: errors, opts (through the compose modules).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hako.compose import dotenv
from hako.compose.errors import ComposeError
from hako.compose.merge import list_or_dict_to_dict
from hako.compose.yamlfile import Marks

_BOOLS = ("privileged", "read_only", "init", "tty", "stdin_open", "oom_kill_disable", "attach")
_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}


@dataclass
class Service:
    name: str
    spec: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    @property
    def depends_on(self) -> dict[str, dict[str, Any]]:
        return self.spec.get("depends_on") or {}

    @property
    def replicas(self) -> int:
        deploy = self.spec.get("deploy") or {}
        if deploy.get("replicas") is not None:
            return int(deploy["replicas"])
        return int(self.spec.get("scale", 1))


@dataclass
class Project:
    name: str
    working_dir: str
    config_files: list[str]
    services: dict[str, Service]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    disabled: dict[str, Service] = field(default_factory=dict)  # profiles not enabled
    marks: Marks = field(default_factory=Marks)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name,
                               "services": {n: s.spec for n, s in sorted(self.services.items())}}
        for key in ("networks", "volumes", "secrets", "configs"):
            if getattr(self, key):
                out[key] = dict(sorted(getattr(self, key).items()))
        return out

    def service(self, name: str) -> Service:
        if name in self.services:
            return self.services[name]
        raise ComposeError(f"no such service: {name}")


def to_bool(value: Any, path: tuple, marks: Marks) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise marks.error(f"must be a boolean, not {value!r}", path)


def _int(value: Any, path: tuple, marks: Marks) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise marks.error(f"must be an integer, not {value!r}", path) from None


def _command(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _environment(svc: dict[str, Any], env: Mapping[str, str], base: tuple,
                 marks: Marks) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in svc.get("env_file") or []:
        path, required = (item, True) if isinstance(item, str) else \
            (item["path"], to_bool(item.get("required", True), base + ("env_file",), marks))
        if not os.path.exists(path):
            if required:
                raise marks.error(f"env file {path} not found: stat {path}: no such file or "
                                  "directory", base + ("env_file",))
            continue
        fmt = "" if isinstance(item, str) else item.get("format", "")
        if fmt not in ("", "raw"):
            raise marks.error(f"unsupported env_file format {fmt!r} (raw or the default)",
                              base + ("env_file",))
        out.update(dotenv.read(path, env, raw=fmt == "raw"))
    for key, value in list_or_dict_to_dict(svc.get("environment")).items():
        if value is None:
            value = env.get(key)
        out[key] = None if value is None else (str(value).lower() if isinstance(value, bool)
                                               else str(value))
    return out


def _port_entries(value: Any, path: tuple, marks: Marks) -> list[dict[str, Any]]:
    from hako.opts.ports import parse_publish

    if isinstance(value, dict):
        entry = {"mode": value.get("mode", "ingress"), "target": _int(value.get("target"), path,
                                                                      marks),
                 "protocol": value.get("protocol", "tcp")}
        if value.get("host_ip"):
            entry["host_ip"] = value["host_ip"]
        if value.get("published") not in (None, ""):
            entry["published"] = str(value["published"])
        for extra in ("name", "app_protocol"):
            if extra in value:
                entry[extra] = value[extra]
        return [entry]
    try:
        bindings = parse_publish(str(value))
    except Exception as exc:  # opts raises InvalidArgument with docker's text
        raise marks.error(str(exc), path) from None
    out = []
    for b in bindings:
        entry = {"mode": "ingress", "target": b.container_port, "protocol": b.protocol}
        if b.host_ip:
            entry["host_ip"] = b.host_ip
        if b.host_port:
            entry["published"] = b.host_port
        out.append(entry)
    return out


_MODES = {"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated", "shared",
          "rshared", "slave", "rslave", "private", "rprivate"}


def volume_entry(value: Any, path: tuple, marks: Marks) -> dict[str, Any]:
    """One ``volumes`` entry in long syntax (short ``src:dst:mode`` converted).

    Raises:
        ComposeError: compose's ``invalid spec``/``mount path must be absolute`` texts.
    """
    if isinstance(value, dict):
        out = dict(value)
        if "read_only" in out:
            out["read_only"] = to_bool(out["read_only"], path + ("read_only",), marks)
        if not out.get("target"):
            raise marks.error("target is required", path)
        _absolute_target(out["target"], path, marks)
        return out
    parts = str(value).split(":")
    if len(parts) == 2 and parts[0].startswith("/") and set(parts[1].split(",")) <= _MODES:
        parts = ["", parts[0], parts[1]]  # "/ctr:ro": an anonymous volume with a mode
    if len(parts) > 3 or "" in parts[1:]:
        raise marks.error(f"invalid spec: {value}: too many colons" if len(parts) > 3
                          else f"invalid spec: {value}: empty section", path)
    if len(parts) == 1:
        parts = ["", parts[0], ""]
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    _absolute_target(target, path, marks)
    opts = [m for m in mode.split(",") if m]
    bad = [o for o in opts if o not in _MODES]
    if bad:
        raise marks.error(f"invalid spec: {value}: unknown option {bad[0]!r}", path)
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    out: dict[str, Any] = {"type": kind, "source": source, "target": target} if source \
        else {"type": "volume", "target": target}
    if "ro" in opts:
        out["read_only"] = True
    if kind == "bind":
        out["bind"] = {"create_host_path": True}
        prop = [o for o in opts if "shared" in o or "slave" in o or "private" in o]
        if prop:
            out["bind"]["propagation"] = prop[0]
        sel = [o for o in opts if o in ("z", "Z")]
        if sel:
            out["bind"]["selinux"] = sel[0]
    elif "nocopy" in opts:
        out["volume"] = {"nocopy": True}
    return out


def _absolute_target(target: str, path: tuple, marks: Marks) -> None:
    if not str(target).startswith("/"):
        raise marks.error(f"invalid mount config: mount path must be absolute: {target!r}",
                          path)


def _networks(svc: dict[str, Any]) -> dict[str, Any] | None:
    nets = svc.get("networks")
    if nets is None:
        return None if svc.get("network_mode") else {"default": None}
    if isinstance(nets, list):
        return {n: None for n in nets}
    return dict(nets)


def _depends(svc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    dep = svc.get("depends_on")
    if not dep:
        return {}
    if isinstance(dep, list):
        return {d: {"condition": "service_started", "required": True} for d in dep}
    return {k: {"condition": v.get("condition", "service_started"),
                "required": v.get("required", True),
                **({"restart": v["restart"]} if "restart" in v else {})}
            for k, v in dep.items()}


def normalize_service(name: str, svc: dict[str, Any], env: Mapping[str, str],
                      marks: Marks) -> dict[str, Any]:
    """One service's long form (see the module docstring).

    Raises:
        ComposeError: a value that cannot be converted (naming its path).
    """
    base = ("services", name)
    out = {k: v for k, v in svc.items() if not k.startswith("x-")}
    for key in _BOOLS:
        if key in out:
            out[key] = to_bool(out[key], base + (key,), marks)
    for key in ("command", "entrypoint"):
        if key in out:
            out[key] = _command(out[key])
    if "environment" in out or "env_file" in out:
        out["environment"] = _environment(svc, env, base, marks)
    if out.get("label_file"):
        files = out.pop("label_file")
        labels: dict[str, Any] = {}
        for path in files:  # made absolute by the loader
            labels.update(dotenv.read(path, {}, raw=True))
        out["labels"] = {**labels, **list_or_dict_to_dict(out.get("labels"))}
    for key in ("labels", "sysctls", "annotations"):
        if key in out:
            out[key] = {k: ("" if v is None else str(v)) for k, v in
                        list_or_dict_to_dict(out[key]).items()}
    if "extra_hosts" in out:
        hosts = out["extra_hosts"]
        if isinstance(hosts, dict):
            out["extra_hosts"] = [f"{h}={ip}" for h, ips in hosts.items()
                                  for ip in (ips if isinstance(ips, list) else [ips])]
        else:
            out["extra_hosts"] = [h if "=" in h else h.replace(":", "=", 1) for h in hosts]
    for key in ("dns", "dns_search", "tmpfs"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
    if "ports" in out:
        out["ports"] = [e for i, p in enumerate(out["ports"])
                        for e in _port_entries(p, base + ("ports", i), marks)]
    if "expose" in out:
        out["expose"] = [str(e) for e in out["expose"]]
    if "volumes" in out:
        out["volumes"] = [volume_entry(v, base + ("volumes", i), marks)
                          for i, v in enumerate(out["volumes"])]
    for key in ("secrets", "configs"):
        if key in out:
            out[key] = [{"source": s} if isinstance(s, str) else dict(s) for s in out[key]]
    nets = _networks(out)
    if nets is not None:
        out["networks"] = nets
    implied = _implied_dependencies(out)
    if "depends_on" in out or implied:
        deps = _depends(out)
        for dep in implied:
            deps.setdefault(dep, {"condition": "service_started", "required": True})
        out["depends_on"] = deps
    if isinstance(out.get("healthcheck"), dict):
        out["healthcheck"] = _healthcheck(out["healthcheck"], base + ("healthcheck",), marks)
    if "scale" in out:
        out["scale"] = _int(out["scale"], base + ("scale",), marks)
    deploy = out.get("deploy")
    if isinstance(deploy, dict) and deploy.get("replicas") is not None:
        out["deploy"] = {**deploy, "replicas": _int(deploy["replicas"],
                                                     base + ("deploy", "replicas"), marks)}
    if isinstance(out.get("build"), dict) and "args" in out["build"]:
        args = list_or_dict_to_dict(out["build"]["args"])
        out["build"] = {**out["build"], "args": {k: (env.get(k) if v is None else str(v))
                                                 for k, v in args.items()}}
    return out


def _implied_dependencies(svc: dict[str, Any]) -> list[str]:
    """Services that ``links``, ``volumes_from`` and ``network_mode: service:X`` name (compose
    adds them to ``depends_on`` with ``service_started``)."""
    out = [link.split(":")[0] for link in svc.get("links") or []]
    out += [v.split(":")[0] for v in svc.get("volumes_from") or []
            if not v.startswith("container:")]
    mode = svc.get("network_mode") or ""
    if mode.startswith("service:"):
        out.append(mode[len("service:"):])
    return list(dict.fromkeys(out))


def _healthcheck(hc: dict[str, Any], path: tuple, marks: Marks) -> dict[str, Any]:
    out = dict(hc)
    if "disable" in out:
        out["disable"] = to_bool(out["disable"], path + ("disable",), marks)
    test = out.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    if "retries" in out:
        out["retries"] = _int(out["retries"], path + ("retries",), marks)
    return out


def build_project(name: str, working_dir: str, files: list[str], doc: dict[str, Any],
                  env: Mapping[str, str], marks: Marks, profiles: set[str],
                  wanted: list[str] | None = None) -> Project:
    """The normalised :class:`Project` of a merged document.

    Args:
        profiles: the active profiles; services with other profiles are disabled unless
            named in ``wanted`` (compose enables services a command names explicitly).
    """
    services, disabled = {}, {}
    for sname, raw in (doc.get("services") or {}).items():
        svc = Service(sname, normalize_service(sname, raw, env, marks))
        prof = set(raw.get("profiles") or [])
        enabled = not prof or prof & profiles or "*" in profiles or sname in (wanted or [])
        (services if enabled else disabled)[sname] = svc
    project = Project(name, working_dir, files, services, environment=dict(env),
                      disabled=disabled, marks=marks)
    used_default = any("default" in (s.get("networks") or {}) for s in services.values())
    nets = {k: dict(v or {}) for k, v in (doc.get("networks") or {}).items()}
    if used_default and "default" not in nets:
        nets["default"] = {}
    for key, section in (("networks", nets), ("volumes", doc.get("volumes") or {}),
                         ("secrets", doc.get("secrets") or {}),
                         ("configs", doc.get("configs") or {})):
        out = {}
        for rname, res in section.items():
            res = {k: v for k, v in dict(res or {}).items() if not k.startswith("x-")}
            ext = res.get("external")
            if isinstance(ext, dict):
                res["external"] = True
                res.setdefault("name", ext.get("name", rname))
            elif ext is not None:
                res["external"] = to_bool(ext, (key, rname, "external"), marks)
            if key in ("networks", "volumes") and "name" not in res:
                res["name"] = rname if res.get("external") else f"{name}_{rname}"
            if key in ("secrets", "configs") and res.get("file"):
                res["file"] = os.path.normpath(os.path.join(working_dir, res["file"]))
            out[rname] = res
        setattr(project, key, out)
    return project
