"""Whole-project checks after normalisation: every service has an image or a build,
build contexts exist, referenced networks/volumes/secrets/configs are defined, and no two
services (or replicas) publish the same host port.

May import: errors (through .errors).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hako import errors
from hako.compose import graph
from hako.compose.model import Project


def check_project(project: Project) -> None:
    """Run every check.

    Raises:
        ComposeError: the first problem, naming the file, line and key path.
    """
    marks = project.marks
    for name, svc in project.services.items():
        base = ("services", name)
        if not svc.get("image") and not svc.get("build"):
            raise marks.error(f'service "{name}" has neither an image nor a build context '
                              "specified: invalid compose project", base)
        build = svc.get("build") or {}
        ctx = build.get("context")
        if ctx and "://" not in ctx and not ctx.startswith("git@") and not os.path.isdir(ctx):
            raise marks.error(f"build context {ctx!r} does not exist "
                              f"(unable to prepare context: path {ctx!r} not found)",
                              base + ("build",))
        for net in svc.get("networks") or {}:
            if net not in project.networks:
                raise marks.error(f'service "{name}" refers to undefined network {net}: '
                                  "invalid compose project", base + ("networks", net))
        for i, vol in enumerate(svc.get("volumes") or []):
            if vol.get("type") == "volume" and vol.get("source") and \
                    vol["source"] not in project.volumes:
                raise marks.error(f'service "{name}" refers to undefined volume '
                                  f"{vol['source']}: invalid compose project",
                                  base + ("volumes", i))
        for key in ("secrets", "configs"):
            for i, ref in enumerate(svc.get(key) or []):
                if ref["source"] not in getattr(project, key):
                    raise marks.error(f'service "{name}" refers to undefined {key[:-1]} '
                                      f"{ref['source']}: invalid compose project",
                                      base + (key, i))
    _port_conflicts(project)
    _values(project)
    graph.check(project)


def _size(v: Any) -> None:
    from hako.support.units import parse_ram_size

    if not isinstance(v, int):
        parse_ram_size(str(v))


def _duration(v: Any) -> None:
    from hako.support.units import parse_duration

    parse_duration(str(v))


def _cpus(v: Any) -> None:
    from hako.opts.resources import parse_cpus

    parse_cpus(str(v))


def _restart(v: Any) -> None:
    from hako.opts import restart

    restart.validate(restart.parse(str(v)))


def _expose(v: Any) -> None:
    from hako.opts.ports import parse_expose

    parse_expose(str(v))


def _integer(v: Any) -> None:
    int(v)


# key path inside a service (``*`` = every item) → the parser its value must satisfy
VALUES: list[tuple[tuple[str, ...], Callable[[Any], None]]] = [
    (("expose", "*"), _expose), (("restart",), _restart),
    (("stop_grace_period",), _duration), (("healthcheck", "interval"), _duration),
    (("healthcheck", "timeout"), _duration), (("healthcheck", "start_period"), _duration),
    (("healthcheck", "start_interval"), _duration),
    (("mem_limit",), _size), (("memswap_limit",), _size), (("mem_reservation",), _size),
    (("shm_size",), _size), (("deploy", "resources", "limits", "memory"), _size),
    (("deploy", "resources", "reservations", "memory"), _size),
    (("cpus",), _cpus), (("deploy", "resources", "limits", "cpus"), _cpus),
    (("pids_limit",), _integer), (("deploy", "resources", "limits", "pids"), _integer),
    (("cpu_shares",), _integer), (("cpu_quota",), _integer), (("cpu_period",), _integer),
    (("mem_swappiness",), _integer), (("oom_score_adj",), _integer),
]


def _walk(value: Any, keys: tuple[str, ...], at: tuple) -> list[tuple[tuple, Any]]:
    if not keys:
        return [(at, value)]
    if keys[0] == "*":
        return [hit for i, v in enumerate(value if isinstance(value, list) else [])
                for hit in _walk(v, keys[1:], at + (i,))]
    if not isinstance(value, dict) or value.get(keys[0]) is None:
        return []
    return _walk(value[keys[0]], keys[1:], at + (keys[0],))


def _values(project: Project) -> None:
    """Values the Engine API bodies are made from parse (before anything is created)."""
    for name, svc in project.services.items():
        for keys, parse in VALUES:
            for at, value in _walk(svc.spec, keys, ("services", name)):
                try:
                    parse(value)
                except (errors.EngineError, ValueError, TypeError) as exc:
                    raise project.marks.error(str(exc) or f"invalid value {value!r}",
                                              at) from None


def _port_conflicts(project: Project) -> None:
    """Two services (or replicas) cannot bind the same host port: the same address, or
    one of them on every address (0.0.0.0)."""
    seen: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for name in sorted(project.services):
        svc = project.services[name]
        for i, port in enumerate(svc.get("ports") or []):
            pub = port.get("published")
            lo, _, hi = str(pub or "").partition("-")
            if not lo or hi:  # ephemeral, or a range: replicas take one each
                continue
            ip = port.get("host_ip") or "0.0.0.0"
            key = (int(lo), port.get("protocol", "tcp"))
            taken = seen.setdefault(key, [])
            clash = [other for other, other_ip in taken
                     if "0.0.0.0" in (ip, other_ip) or ip == other_ip]
            if not clash and svc.replicas > 1:
                clash = [name]
            if clash:
                other = clash[0]
                who = f'services "{other}" and "{name}"' if other != name else \
                    f'{svc.replicas} replicas of service "{name}"'
                raise project.marks.error(
                    f"port {ip}:{key[0]}/{key[1]} is published by {who}: Bind for "
                    f"{ip}:{key[0]} would fail with port is already allocated",
                    ("services", name, "ports", i))
            taken.append((name, ip))
