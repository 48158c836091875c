"""Validation of a compose file against the Compose Specification, written here as a table.

Every key the specification defines is known with its type; anything else (except ``x-``
extensions where the specification allows them) is an error naming the file, line and key
path. Values are checked after interpolation, as compose does. Semantic checks that need
the whole project (cycles, undefined references, port conflicts, build contexts) are in
:mod:`.checks`.

Spec forms: a type string (``"str"``, ``"int|str"``, ``"bool|str"``, ``"num|str"``, or a
named form ``"@list_or_dict"``), a dict (an object: its keys, ``_req`` required keys,
``_x`` False when ``x-`` keys are not allowed, ``_open`` True when any other key is, ``_null``
True when null is allowed), a
``List``, a ``Map`` (pattern-named keys) or ``OneOf`` (the branch chosen by the value's type).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hako.compose.yamlfile import Marks, Path


@dataclass(frozen=True)
class List:
    item: Any
    unique: bool = False


@dataclass(frozen=True)
class Map:
    value: Any
    pattern: str = ".+"
    closed: bool = True  # keys that do not match the pattern are refused


@dataclass(frozen=True)
class OneOf:
    branches: tuple


@dataclass(frozen=True)
class Enum:
    values: tuple
    pattern: str = ""


@dataclass(frozen=True)
class Bounded:
    """An integer within [low, high] (None: unbounded on that side)."""

    low: int | None = None
    high: int | None = None


NAME = r"^[a-zA-Z0-9._-]+$"
STRS = List("str", unique=True)
LIST_OR_DICT = OneOf((Map("str|num|bool|null"), STRS))
STRING_OR_LIST = OneOf(("str", STRS))
COMMAND = OneOf(("null", "str", List("str")))
EXTRA_HOSTS = OneOf((Map(OneOf(("str", List("str")))), STRS))
ULIMITS = Map(OneOf(("int|str", {"hard": "int|str", "soft": "int|str", "_req": ("soft", "hard")})),
              "^[a-z]+$", closed=False)
ENV_FILE = OneOf(("str", List(OneOf(("str", {"path": "str", "format": "str",
                                               "required": "bool|str", "_req": ("path",),
                                               "_x": False})))))
CONFIG_OR_SECRET = List(OneOf(("str", {"source": "str", "target": "str", "uid": "str",
                                       "gid": "str", "mode": "num|str"})))
BLKIO_LIMIT = List({"path": "str", "rate": "int|str", "_x": False})
DEVICES = List({"capabilities": STRS, "count": "str|int", "device_ids": STRS, "driver": "str",
                "options": LIST_OR_DICT, "_req": ("capabilities",)})
HOOK = {"command": COMMAND, "user": "str", "privileged": "bool|str", "working_dir": "str",
        "environment": LIST_OR_DICT, "_req": ("command",)}
HEALTHCHECK = {"disable": "bool|str", "interval": "str", "retries": "num|str",
               "test": OneOf(("str", List("str"))), "timeout": "str", "start_period": "str",
               "start_interval": "str"}
UPDATE = {"parallelism": "int|str", "delay": "str", "failure_action": "str", "monitor": "str",
          "max_failure_ratio": "num|str", "order": Enum(("start-first", "stop-first"))}
DEPLOY = {
    "_null": True, "mode": "str", "endpoint_mode": "str", "replicas": "int|str",
    "labels": LIST_OR_DICT, "rollback_config": UPDATE, "update_config": UPDATE,
    "resources": {
        "limits": {"cpus": "num|str", "memory": "str", "pids": "int|str"},
        "reservations": {"cpus": "num|str", "memory": "str", "devices": DEVICES,
                         "generic_resources": List({"discrete_resource_spec": {
                             "kind": "str", "value": "num|str"}})},
    },
    "restart_policy": {"condition": "str", "delay": "str", "max_attempts": "int|str",
                       "window": "str"},
    "placement": {"constraints": List("str"), "preferences": List({"spread": "str"}),
                  "max_replicas_per_node": "int|str"},
}
BUILD = OneOf(("str", {
    "context": "str", "dockerfile": "str", "dockerfile_inline": "str", "entitlements": List("str"),
    "args": LIST_OR_DICT, "ssh": LIST_OR_DICT, "labels": LIST_OR_DICT, "cache_from": List("str"),
    "cache_to": List("str"), "no_cache": "bool|str", "additional_contexts": LIST_OR_DICT,
    "network": "str", "provenance": "str|bool", "sbom": "str|bool", "pull": "bool|str",
    "target": "str", "shm_size": "int|str", "extra_hosts": EXTRA_HOSTS, "isolation": "str",
    "privileged": "bool|str", "secrets": CONFIG_OR_SECRET, "tags": List("str"),
    "ulimits": ULIMITS, "platforms": List("str")}))
VOLUME_LONG = {
    "type": Enum(("bind", "volume", "tmpfs", "cluster", "npipe", "image")), "source": "str",
    "target": "str", "read_only": "bool|str", "consistency": "str",
    "bind": {"propagation": "str", "create_host_path": "bool|str",
             "recursive": Enum(("enabled", "disabled", "writable", "readonly")),
             "selinux": Enum(("z", "Z"))},
    "volume": {"labels": LIST_OR_DICT, "nocopy": "bool|str", "subpath": "str"},
    "tmpfs": {"size": OneOf((Bounded(0), "str")), "mode": "num|str"},
    "image": {"subpath": "str"},
    "_req": ("type",),
}
NETWORK_ATTACH = OneOf(("null", {
    "aliases": STRS, "interface_name": "str", "ipv4_address": "str", "ipv6_address": "str",
    "link_local_ips": STRS, "mac_address": "str", "driver_opts": Map("str|num", closed=False),
    "priority": "num", "gw_priority": "num"}))
DEPENDS = {"restart": "bool|str", "required": "bool",
           "condition": Enum(("service_started", "service_healthy",
                              "service_completed_successfully")), "_req": ("condition",)}
SERVICE = {
    "develop": {"_null": True, "watch": List({
        "ignore": STRING_OR_LIST, "include": STRING_OR_LIST, "path": "str",
        "action": Enum(("rebuild", "sync", "restart", "sync+restart", "sync+exec")),
        "target": "str", "exec": HOOK, "initial_sync": "bool", "_req": ("path", "action")})},
    "deploy": DEPLOY, "annotations": LIST_OR_DICT, "attach": "bool|str", "build": BUILD,
    "blkio_config": {"device_read_bps": BLKIO_LIMIT, "device_read_iops": BLKIO_LIMIT,
                     "device_write_bps": BLKIO_LIMIT, "device_write_iops": BLKIO_LIMIT,
                     "weight": "int|str", "_x": False,
                     "weight_device": List({"path": "str", "weight": "int|str", "_x": False})},
    "cap_add": STRS, "cap_drop": STRS, "cgroup": Enum(("host", "private")),
    "cgroup_parent": "str", "command": COMMAND, "configs": CONFIG_OR_SECRET,
    "container_name": Enum((), "[a-zA-Z0-9][a-zA-Z0-9_.-]+"),
    "cpu_count": OneOf(("str", Bounded(0))), "cpu_percent": OneOf(("str", Bounded(0, 100))),
    "cpu_shares": "num|str", "cpu_quota": "num|str", "cpu_period": "num|str",
    "cpu_rt_period": "num|str", "cpu_rt_runtime": "num|str", "cpus": "num|str", "cpuset": "str",
    "credential_spec": {"config": "str", "file": "str", "registry": "str"},
    "depends_on": OneOf((STRS, Map(DEPENDS, NAME))),
    "device_cgroup_rules": STRS,
    "devices": List(OneOf(("str", {"source": "str", "target": "str", "permissions": "str",
                                   "_req": ("source",)}))),
    "dns": STRING_OR_LIST, "dns_opt": STRS, "dns_search": STRING_OR_LIST, "domainname": "str",
    "entrypoint": COMMAND, "env_file": ENV_FILE, "label_file": OneOf(("str", List("str"))),
    "environment": LIST_OR_DICT, "expose": List("str|num", unique=True),
    "extends": OneOf(("str", {"service": "str", "file": "str", "_req": ("service",),
                              "_x": False})),
    "provider": {"type": "str", "options": Map(OneOf(("str|num|bool", List("str|num|bool"))),
                                                closed=False), "_req": ("type",)},
    "external_links": STRS, "extra_hosts": EXTRA_HOSTS, "gpus": OneOf((Enum(("all",)), List({
        "capabilities": STRS, "count": "str|int", "device_ids": STRS, "driver": "str",
        "options": LIST_OR_DICT, "_x": False}))),
    "group_add": List("str|num", unique=True), "healthcheck": HEALTHCHECK, "hostname": "str",
    "image": "str", "init": "bool|str", "ipc": "str", "isolation": "str", "labels": LIST_OR_DICT,
    "links": STRS, "logging": {"driver": "str", "options": Map("str|num|null", closed=False)},
    "mac_address": "str", "mem_limit": "num|str", "mem_reservation": "str|int",
    "mem_swappiness": "int|str", "memswap_limit": "num|str", "network_mode": "str",
    "models": OneOf((STRS, Map({"endpoint_var": "str", "model_var": "str"}, NAME,
                               closed=False))),
    "networks": OneOf((STRS, Map(NETWORK_ATTACH, NAME))),
    "oom_kill_disable": "bool|str", "oom_score_adj": OneOf(("str", Bounded(-1000, 1000))),
    "pid": "str|null", "pids_limit": "num|str", "platform": "str",
    "ports": List(OneOf(("num", "str", {
        "name": "str", "mode": "str", "host_ip": "str", "target": "int|str",
        "published": "str|int", "protocol": "str", "app_protocol": "str"})), unique=True),
    "post_start": List(HOOK), "pre_stop": List(HOOK), "privileged": "bool|str",
    "profiles": STRS,
    "pull_policy": Enum((), "always|never|build|if_not_present|missing|refresh|daily|weekly|"
                            "every_([0-9]+[wdhms])+"),
    "pull_refresh_after": "str", "read_only": "bool|str", "restart": "str", "runtime": "str",
    "scale": "int|str", "security_opt": STRS, "shm_size": "num|str",
    "secrets": CONFIG_OR_SECRET, "sysctls": LIST_OR_DICT, "stdin_open": "bool|str",
    "stop_grace_period": "str", "stop_signal": "str", "storage_opt": Map("any", closed=False),
    "tmpfs": STRING_OR_LIST, "tty": "bool|str", "ulimits": ULIMITS, "use_api_socket": "bool",
    "user": "str", "uts": "str", "userns_mode": "str",
    "volumes": List(OneOf(("str", VOLUME_LONG)), unique=True),
    "volumes_from": STRS, "working_dir": "str",
}
EXTERNAL = OneOf(("bool|str", {"name": "str", "_x": True}))
NETWORK = {"_null": True, "name": "str", "driver": "str", "driver_opts": Map("str|num", closed=False),
           "ipam": {"driver": "str", "config": List({
               "subnet": "str", "ip_range": "str", "gateway": "str",
               "aux_addresses": Map("str")}), "options": Map("str")},
           "external": EXTERNAL, "internal": "bool|str", "enable_ipv4": "bool|str",
           "enable_ipv6": "bool|str", "attachable": "bool|str", "labels": LIST_OR_DICT}
VOLUME = {"_null": True, "name": "str", "driver": "str", "driver_opts": Map("str|num", closed=False),
          "external": EXTERNAL, "labels": LIST_OR_DICT}
SECRET = {"name": "str", "environment": "str", "file": "str",
          "external": OneOf(("bool|str", {"name": "str", "_open": True})),
          "labels": LIST_OR_DICT, "driver": "str", "driver_opts": Map("str|num", closed=False),
          "template_driver": "str"}
CONFIG = {"name": "str", "content": "str", "environment": "str", "file": "str",
          "external": OneOf(("bool|str", {"name": "str", "_open": True})), "labels": LIST_OR_DICT,
          "template_driver": "str"}
MODEL = {"name": "str", "model": "str", "context_size": "int", "runtime_flags": List("str"),
         "_req": ("model",)}
TOP = {
    "version": "str", "name": "str",
    "include": List(OneOf(("str", {"path": STRING_OR_LIST, "env_file": STRING_OR_LIST,
                                   "project_directory": "str", "_x": False}))),
    "services": Map(SERVICE, NAME), "models": Map(MODEL, NAME, closed=False),
    "networks": Map(NETWORK, NAME, closed=False), "volumes": Map(VOLUME, NAME),
    "secrets": Map(SECRET, NAME), "configs": Map(CONFIG, NAME),
}
_TYPE_NAMES = {"str": "a string", "int": "an integer", "num": "a number", "bool": "a boolean",
               "null": "null"}


def validate(doc: Any, marks: Marks) -> None:
    """Check one (interpolated) compose file.

    Raises:
        ComposeError: the first violation, naming file, line and key path.
    """
    if not isinstance(doc, dict):
        raise marks.error("Top-level object must be a mapping", ())
    _check(doc, TOP, (), marks)


def _is(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer())
    if kind == "num":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return kind == "null" and value is None


def _matches(value: Any, spec: Any) -> bool:
    """Whether ``value`` has the shape (not the contents) ``spec`` wants."""
    if isinstance(spec, str):
        return any(_is(value, k) for k in spec.split("|"))
    if isinstance(spec, dict):
        return isinstance(value, dict) or (value is None and spec.get("_null", False))
    if isinstance(spec, (List,)):
        return isinstance(value, list)
    if isinstance(spec, Map):
        return isinstance(value, dict)
    if isinstance(spec, Enum):
        return isinstance(value, str)
    if isinstance(spec, Bounded):
        return _is(value, "int")
    return any(_matches(value, b) for b in spec.branches)


def _describe(spec: Any) -> str:
    if isinstance(spec, str):
        return " or ".join(_TYPE_NAMES[k] for k in spec.split("|"))
    if isinstance(spec, (dict, Map)):
        return "a mapping"
    if isinstance(spec, List):
        return "a list"
    if isinstance(spec, Enum):
        return "a string"
    if isinstance(spec, Bounded):
        return "an integer"
    return " or ".join(dict.fromkeys(_describe(b) for b in spec.branches))


def _check(value: Any, spec: Any, path: Path, marks: Marks) -> None:
    if isinstance(spec, OneOf):
        for branch in spec.branches:
            if _matches(value, branch):
                return _check(value, branch, path, marks)
        raise marks.error(f"must be {_describe(spec)}", path)
    if not _matches(value, spec):
        raise marks.error(f"must be {_describe(spec)}", path)
    if isinstance(spec, dict):
        _check_object(value or {}, spec, path, marks)
    elif isinstance(spec, List):
        _check_list(value, spec, path, marks)
    elif isinstance(spec, Map):
        for key, item in value.items():
            if not isinstance(key, str) or not re.search(spec.pattern, key):
                if spec.closed or not isinstance(key, str):
                    raise marks.error(f"additional property {key!r} is not allowed", path,
                                      path + (key,))
                continue
            _check(item, spec.value, path + (key,), marks)
    elif isinstance(spec, Bounded):
        if (spec.low is not None and value < spec.low) or \
                (spec.high is not None and value > spec.high):
            bounds = f"between {spec.low} and {spec.high}" if spec.high is not None else \
                f"at least {spec.low}"
            raise marks.error(f"must be an integer {bounds}", path)
    elif isinstance(spec, Enum):
        ok = value in spec.values if spec.values else bool(re.search(spec.pattern, value))
        if not ok:
            wanted = ", ".join(repr(v) for v in spec.values) if spec.values else \
                f"the pattern {spec.pattern!r}"
            raise marks.error(f"must be one of {wanted}" if spec.values
                              else f"does not match {wanted}", path)


def _check_object(value: dict, spec: dict, path: Path, marks: Marks) -> None:
    for key, item in value.items():
        if key in spec and not key.startswith("_"):
            _check(item, spec[key], path + (key,), marks)
        elif spec.get("_open"):
            continue
        elif not (isinstance(key, str) and key.startswith("x-") and spec.get("_x", True)):
            raise marks.error(f"additional property {key!r} is not allowed", path,
                              path + (key,))
    for key in spec.get("_req", ()):
        if key not in value:
            raise marks.error(f"{key!r} is required", path)


def _check_list(value: list, spec: List, path: Path, marks: Marks) -> None:
    seen: list[Any] = []
    for i, item in enumerate(value):
        _check(item, spec.item, path + (i,), marks)
        if spec.unique:
            if item in seen:
                raise marks.error(f"contains the duplicate item {item!r}", path + (i,))
            seen.append(item)
