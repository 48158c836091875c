"""Whole-project checks after normalisation: every service has an image or a build,
build contexts exist, referenced networks/volumes/secrets/configs are defined, and no two
services (or replicas) publish the same host port.

May import: errors (through .errors).
"""

from __future__ import annotations

import os

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
    graph.check(project)


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
