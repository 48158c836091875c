"""Verbs on the containers a project already has: down, stop, start, restart, kill, rm,
pause, unpause. Teardown goes in reverse dependency order (dependents first), each level
in parallel.

May import: errors, support, opts, client (through :class:`.project.ComposeService`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hako import errors
from hako.compose import graph
from hako.compose import labels as L
from hako.compose.project import ComposeService, name_of


@dataclass
class DownOptions:
    volumes: bool = False
    rmi: str = ""
    remove_orphans: bool = False
    timeout: int | None = None


def _reverse_levels(cs: ComposeService, names: list[str]) -> list[list[str]]:
    known = [n for n in names if n in cs.project.services]
    levels = graph.levels(cs.project, known)[::-1]
    unknown = sorted(set(names) - set(known))
    return ([unknown] if unknown else []) + levels


def _by_service(cs: ComposeService, containers: list[dict[str, Any]]) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in containers:
        out.setdefault((c.get("Labels") or {}).get(L.SERVICE, ""), []).append(c)
    return out


def down(cs: ComposeService, opts: DownOptions) -> None:
    """Stop and remove the project's containers, then its networks (and volumes, images)."""
    containers = cs.containers(oneoff=None)
    known = set(cs.project.services) | set(cs.project.disabled)
    orphans = [c for c in containers if (c.get("Labels") or {}).get(L.SERVICE) not in known]
    if orphans and not opts.remove_orphans:
        containers = [c for c in containers if c not in orphans]
        cs.warn(f"Found orphan containers ({', '.join(name_of(c) for c in orphans)}) for this "
                "project. If you removed or renamed this service in your compose file, you "
                "can run this command with the --remove-orphans flag to clean it up.")
    groups = _by_service(cs, containers)
    cs.levels(_reverse_levels(cs, list(groups)),
               lambda s: cs.all(groups[s], lambda c: cs.remove_container(
                   c, volumes=opts.volumes, timeout=opts.timeout)))
    nets = cs.api.networks.list(filters={"label": [f"{L.PROJECT}={cs.project.name}"]})
    declared = {n["name"] for n in cs.project.networks.values() if not n.get("external")}
    names = sorted({n["Name"] for n in nets} | {d for d in declared if _exists_net(cs, d)})
    for name in names:
        cs.report("Network", name, "Removing")
        try:
            cs.api.networks.remove(name)
        except errors.NotFound:
            pass
        cs.report("Network", name, "Removed")
    if opts.volumes:
        vols = cs.api.volumes.list(filters={"label": [f"{L.PROJECT}={cs.project.name}"]})
        for v in sorted(vols.get("Volumes") or [], key=lambda v: v["Name"]):
            if v["Name"] in {x["name"] for x in cs.project.volumes.values()
                             if x.get("external")}:
                continue
            cs.report("Volume", v["Name"], "Removing")
            cs.api.volumes.remove(v["Name"], force=True)
            cs.report("Volume", v["Name"], "Removed")
    if opts.rmi:
        _remove_images(cs, opts.rmi)


def _exists_net(cs: ComposeService, name: str) -> bool:
    try:
        doc = cs.api.networks.inspect(name)
    except errors.NotFound:
        return False
    return (doc.get("Labels") or {}).get(L.PROJECT) == cs.project.name


def _remove_images(cs: ComposeService, which: str) -> None:
    from hako.compose import convert

    if which not in ("all", "local"):
        raise errors.InvalidArgument(f"invalid --rmi value {which!r}: all or local")
    refs = set()
    for svc in cs.project.services.values():
        if which == "all" or not svc.get("image"):
            refs.add(convert.image_name(cs.project, svc))
    for ref in sorted(refs):
        try:
            cs.api.images.remove(ref)
        except errors.NotFound:
            continue
        cs.report("Image", ref, "Removed")


def _select(cs: ComposeService, services: list[str], oneoff: bool | None = False
            ) -> dict[str, list[dict[str, Any]]]:
    for s in services:
        cs.project.service(s)
    groups = _by_service(cs, cs.containers(oneoff=oneoff))
    return {s: cs_ for s, cs_ in groups.items() if not services or s in services}


def stop(cs: ComposeService, services: list[str], timeout: int | None = None) -> None:
    groups = _select(cs, services)

    def one(c: dict[str, Any]) -> None:
        if c.get("State") not in ("running", "paused", "restarting"):
            return
        cs.report("Container", name_of(c), "Stopping")
        cs.api.containers.stop(c["Id"], timeout)
        cs.report("Container", name_of(c), "Stopped")

    cs.levels(_reverse_levels(cs, list(groups)), lambda s: cs.all(groups[s], one))


def start(cs: ComposeService, services: list[str]) -> None:
    groups = _select(cs, services)
    if not groups:
        raise errors.NotFound("service(s) not running: no container found for the project")
    levels = graph.levels(cs.project, [s for s in groups if s in cs.project.services])
    cs.levels(levels, lambda s: cs.start_service(s, [c["Id"] for c in groups[s]]))


def restart(cs: ComposeService, services: list[str], timeout: int | None = None) -> None:
    """Restart the services, and those that depend on one of them with ``restart: true``."""
    if services:
        services = _with_restart_dependents(cs, services)
    groups = _select(cs, services)

    def one(c: dict[str, Any]) -> None:
        cs.report("Container", name_of(c), "Restarting")
        cs.api.containers.restart(c["Id"], timeout)
        cs.report("Container", name_of(c), "Started")

    levels = graph.levels(cs.project, [s for s in groups if s in cs.project.services])
    cs.levels(levels, lambda s: cs.all(groups[s], one))


def _with_restart_dependents(cs: ComposeService, services: list[str]) -> list[str]:
    out = list(services)
    for name in out:  # grows while we walk it
        for other, svc in cs.project.services.items():
            cond = svc.depends_on.get(name) or {}
            if other not in out and str(cond.get("restart", False)).lower() == "true":
                out.append(other)
    return out


def simple(cs: ComposeService, services: list[str], verb: str, doing: str, done: str,
           states: tuple[str, ...], **kw: Any) -> None:
    """kill, pause, unpause: one call per container in ``states``."""
    groups = _select(cs, services)

    def one(c: dict[str, Any]) -> None:
        if c.get("State") not in states:
            return
        cs.report("Container", name_of(c), doing)
        getattr(cs.api.containers, verb)(c["Id"], **kw)
        cs.report("Container", name_of(c), done)

    cs.all([c for s in groups.values() for c in s], one)


def remove(cs: ComposeService, services: list[str], stop_first: bool, volumes: bool,
           confirm=lambda names: True) -> list[str]:
    """rm: stopped containers (with ``-s``, stop them first); returns the removed names."""
    groups = _select(cs, services)
    every = [c for s in groups.values() for c in s]
    if stop_first:
        stop(cs, services)
        every = [c for s in _select(cs, services).values() for c in s]
    gone = [c for c in every if c.get("State") not in ("running", "paused", "restarting")]
    if not gone or not confirm([name_of(c) for c in gone]):
        return []
    cs.all(gone, lambda c: cs.remove_container(c, volumes=volumes))
    return [name_of(c) for c in gone]
