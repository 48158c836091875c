"""Compose operations on a project through the Engine API (``hako.client.APIClient``).

``ComposeService(api, project, report)`` converges the daemon onto the model: networks and
volumes first, then containers created level by level in dependency order (independent
services in parallel), then started in that order, each service waiting for its
dependencies' conditions (``service_started``, ``service_healthy`` by polling
``State.Health``, ``service_completed_successfully``). A container whose
``com.docker.compose.config-hash`` differs from the model is recreated; replicas above the
wanted count are removed, the highest numbers first. ``down`` goes the other way.

Progress is reported as ``report(kind, name, status)`` (``Container``, ``demo-web-1``,
``Started``); the caller renders it. Building images is injected (``builder``), since the
build context tar is the CLI's business.

May import: errors, support, opts, client (through the API object).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hako import errors
from hako.compose import convert, graph
from hako.compose import labels as L
from hako.compose.errors import ComposeError
from hako.compose.model import Project, Service
from hako.compose.parallel import run_all, run_levels

Report = Callable[[str, str, str], None]


@dataclass
class UpOptions:
    services: list[str] = field(default_factory=list)
    no_deps: bool = False
    build: bool = False
    no_build: bool = False
    pull: str = "missing"
    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False
    scale: dict[str, int] = field(default_factory=dict)
    no_start: bool = False
    wait: bool = False
    wait_timeout: float = 0
    timeout: int | None = None


def number_of(c: dict[str, Any]) -> int:
    try:
        return int((c.get("Labels") or {}).get(L.NUMBER, "0"))
    except ValueError:
        return 0


def name_of(c: dict[str, Any]) -> str:
    names = c.get("Names") or [""]
    return names[0].lstrip("/")


def inherit_anonymous_volumes(body: dict[str, Any], old: dict[str, Any]) -> None:
    """Give a recreated container the anonymous volumes of the one it replaces (same
    targets), as compose does, so their data survives like named volumes' does."""
    named = {m.get("Source") for m in (body.get("HostConfig") or {}).get("Mounts") or []}
    anonymous = {m["Destination"]: m["Name"] for m in old.get("Mounts") or []
                 if m.get("Type") == "volume" and m.get("Name") and m["Name"] not in named
                 and len(m["Name"]) == 64}
    if not anonymous:
        return
    hc = body.setdefault("HostConfig", {})
    mounts = hc.setdefault("Mounts", [])
    bound = {b.split(":")[1] for b in hc.get("Binds") or [] if ":" in b}
    for m in mounts:
        if m.get("Type") == "volume" and not m.get("Source") and m["Target"] in anonymous:
            m["Source"] = anonymous.pop(m["Target"])
    for target, name in sorted(anonymous.items()):
        if target not in bound and target not in {m["Target"] for m in mounts}:
            mounts.append({"Type": "volume", "Source": name, "Target": target})


class ComposeService:
    """Operations on one project; every call goes through ``api``."""

    def __init__(self, api: Any, project: Project, report: Report,
                 builder: Callable[[Service, str], None] | None = None,
                 warn: Callable[[str], None] = lambda m: None, clock=time.monotonic,
                 sleep=time.sleep, limit: int = 8) -> None:
        self.api = api
        self.project = project
        self.report = report
        self.builder = builder
        self.warn = warn
        self.clock = clock
        self.sleep = sleep
        self.limit = limit if limit > 0 else 64  # --parallel (-1: unlimited)

    def all(self, items: Any, fn: Callable[[Any], Any]) -> list[Any]:
        """``fn`` over ``items`` in parallel, at most ``limit`` at once."""
        return run_all(items, fn, self.limit)

    def levels(self, levels: Any, fn: Callable[[Any], Any]) -> None:
        """Level after level, each in parallel (see :func:`.parallel.run_levels`)."""
        run_levels(levels, fn, self.limit)

    # -- observation ----------------------------------------------------------------------

    def containers(self, service: str | None = None, oneoff: bool | None = False,
                   all: bool = True) -> list[dict[str, Any]]:
        found = self.api.containers.list(all=all, filters=L.project_filter(
            self.project.name, service, oneoff))
        return sorted(found, key=lambda c: ((c.get("Labels") or {}).get(L.SERVICE, ""),
                                            number_of(c)))

    def orphans(self) -> list[dict[str, Any]]:
        known = set(self.project.services) | set(self.project.disabled)
        return [c for c in self.containers(oneoff=None)
                if (c.get("Labels") or {}).get(L.SERVICE) not in known]

    # -- resources ------------------------------------------------------------------------

    def ensure_networks(self, services: list[str]) -> None:
        used = {n for s in services for n in (self.project.services[s].get("networks") or {})}
        for key in sorted(used):
            net = self.project.networks[key]
            name = net["name"]
            try:
                self.api.networks.inspect(name)
                continue
            except errors.NotFound:
                if net.get("external"):
                    raise ComposeError(f"network {name} declared as external, but could "
                                       "not be found") from None
            self.report("Network", name, "Creating")
            self.api.networks.create(convert.network_body(self.project, key))
            self.report("Network", name, "Created")

    def ensure_volumes(self, services: list[str]) -> None:
        used = {v["source"] for s in services
                for v in self.project.services[s].get("volumes") or []
                if v.get("type") == "volume" and v.get("source") in self.project.volumes}
        for key in sorted(used):
            vol = self.project.volumes[key]
            try:
                self.api.volumes.inspect(vol["name"])
                continue
            except errors.NotFound:
                if vol.get("external"):
                    raise ComposeError(f"external volume \"{vol['name']}\" not found") from None
            self.report("Volume", vol["name"], "Creating")
            body = convert.volume_body(self.project, key)
            self.api.volumes.create(body["Name"], body["Driver"], body["DriverOpts"],
                                    body["Labels"])
            self.report("Volume", vol["name"], "Created")

    def ensure_images(self, services: list[str], build: bool = False, no_build: bool = False,
                      pull: str = "missing") -> None:
        """Build what must be built and pull what is missing (compose's pull_policy)."""
        todo_build, todo_pull = [], []
        for name in services:
            svc = self.project.services[name]
            image = convert.image_name(self.project, svc)
            policy = svc.get("pull_policy") or pull
            present = self._has_image(image)
            if svc.get("build") and not no_build and (build or not present or policy == "build"):
                todo_build.append(svc)
            elif policy == "always" or (not present and policy != "never"):
                if svc.get("image"):
                    todo_pull.append(image)
                elif not present:
                    raise ComposeError(f"service {name!r} has no image to run (build disabled)")
            elif not present:
                raise ComposeError(f"No such image: {image}")
        self.all(sorted(set(todo_pull)), self.pull_image)
        for svc in todo_build:
            self.build_service(svc)

    def _has_image(self, ref: str) -> bool:
        try:
            self.api.images.inspect(ref)
            return True
        except errors.NotFound:
            return False

    def pull_image(self, ref: str) -> None:
        from hako.client.streams import json_lines

        self.report("Image", ref, "Pulling")
        name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
        resp = self.api.images.create({"fromImage": name, "tag": tag or "latest"})
        for msg in json_lines(resp.iter_chunks()):
            if msg.get("error"):
                raise errors.NotFound(msg["error"])
        self.report("Image", ref, "Pulled")

    def build_service(self, svc: Service) -> None:
        if self.builder is None:
            raise ComposeError(f"service {svc.name!r} needs a build, which is not available")
        image = convert.image_name(self.project, svc)
        self.report("Service", svc.name, "Building")
        self.builder(svc, image)
        self.report("Service", svc.name, "Built")

    # -- containers -----------------------------------------------------------------------

    def create_container(self, svc: Service, number: int, name: str | None = None,
                         oneoff: bool = False, body: dict[str, Any] | None = None) -> str:
        """Create one container (and connect its extra networks); returns its id."""
        name = name or convert.container_name(self.project, svc, number)
        body = body or convert.container_body(self.project, svc, number, oneoff)
        self.report("Container", name, "Creating")
        cid = self.api.containers.create(body, name=name, platform=svc.get("platform"))["Id"]
        if not svc.get("network_mode"):
            for net, ep in convert.endpoints(self.project, svc)[1:]:
                self.api.networks.connect(net, cid, ep)
        self.report("Container", name, "Created")
        return cid

    def remove_container(self, c: dict[str, Any], volumes: bool = False,
                         timeout: int | None = None) -> None:
        name = name_of(c)
        if c.get("State") in ("running", "paused", "restarting"):
            self.report("Container", name, "Stopping")
            self.api.containers.stop(c["Id"], timeout)
            self.report("Container", name, "Stopped")
        self.report("Container", name, "Removing")
        try:
            self.api.containers.remove(c["Id"], force=True, volumes=volumes)
        except errors.NotFound:
            pass
        self.report("Container", name, "Removed")

    def recreate(self, svc: Service, c: dict[str, Any], timeout: int | None) -> str:
        """compose's recreation: stop, rename the old one aside, create the new one with the
        old one's anonymous volumes, remove the old one."""
        name = name_of(c)
        self.report("Container", name, "Recreate")
        if c.get("State") in ("running", "paused", "restarting"):
            self.api.containers.stop(c["Id"], timeout)
        old = self.api.containers.inspect(c["Id"])
        self.api.containers.rename(c["Id"], f"{c['Id'][:12]}_{name}")
        body = convert.container_body(self.project, svc, number_of(c))
        inherit_anonymous_volumes(body, old)
        try:
            cid = self.api.containers.create(body, name=name,
                                             platform=svc.get("platform"))["Id"]
        except errors.EngineError:  # put the old one back as it was
            self.api.containers.rename(c["Id"], name)
            if c.get("State") == "running":
                self.api.containers.start(c["Id"])
            raise
        if not svc.get("network_mode"):
            for net, ep in convert.endpoints(self.project, svc)[1:]:
                self.api.networks.connect(net, cid, ep)
        self.api.containers.remove(c["Id"], force=True)
        self.report("Container", name, "Recreated")
        return cid

    def converge(self, name: str, opts: UpOptions) -> list[str]:
        """Make a service's containers match the model; returns the ids to start."""
        svc = self.project.services[name]
        want = opts.scale.get(name, svc.replicas)
        if want > 1 and svc.get("container_name"):
            raise ComposeError(f'services.{name}: can\'t set container_name and {name} as '
                               "container name must be unique")
        existing = self.containers(name)
        keep = [c for c in existing if 0 < number_of(c) <= want][:want]
        extra = [c for c in existing if c not in keep]
        self.all(sorted(extra, key=number_of, reverse=True),
                lambda c: self.remove_container(c, timeout=opts.timeout))
        expected = convert.config_hash(svc)
        ids: list[str] = []
        for c in keep:
            changed = (c.get("Labels") or {}).get(L.CONFIG_HASH) != expected
            if opts.force_recreate or (changed and not opts.no_recreate):
                ids.append(self.recreate(svc, c, opts.timeout))
            else:
                self.report("Container", name_of(c), "Running" if c.get("State") == "running"
                            else "Created")
                ids.append(c["Id"])
        taken = {number_of(c) for c in keep}
        free = [n for n in range(1, want + 1 + len(taken)) if n not in taken]
        ids += self.all(free[: want - len(keep)],
                       lambda n: self.create_container(svc, n))
        return ids

    def start_service(self, name: str, ids: list[str]) -> None:
        """Wait for the dependencies' conditions, then start the service's containers."""
        svc = self.project.services[name]
        for dep, cond in svc.depends_on.items():
            if dep in self.project.services:
                self.wait_condition(dep, cond.get("condition", "service_started"),
                                    cond.get("required", True))

        def start(cid: str) -> None:
            info = self.api.containers.inspect(cid)
            cname = info["Name"].lstrip("/")
            if (info.get("State") or {}).get("Running"):
                return
            self.report("Container", cname, "Starting")
            self.api.containers.start(cid)
            self.report("Container", cname, "Started")

        self.all(ids, start)

    def wait_condition(self, dep: str, condition: str, required: bool = True,
                       timeout: float = 0) -> None:
        """Block until ``dep``'s containers meet ``condition``.

        Raises:
            ComposeError: compose's ``dependency failed to start: container X is unhealthy``
                or ``service "X" didn't complete successfully: exit N``.
        """
        if condition == "service_started":
            return
        deadline = self.clock() + timeout if timeout else None
        for c in self.containers(dep):
            cname = name_of(c)
            self.report("Container", cname, "Waiting")
            while True:
                state = self.api.containers.inspect(c["Id"]).get("State") or {}
                if condition == "service_healthy":
                    health = (state.get("Health") or {}).get("Status")
                    if health == "healthy":
                        break
                    if health is None:
                        raise ComposeError(f"container {cname} has no healthcheck configured")
                    if health == "unhealthy" or not state.get("Running"):
                        if not required:
                            break
                        raise ComposeError(f"dependency failed to start: container {cname} "
                                           "is unhealthy")
                elif condition == "service_completed_successfully":
                    if state.get("Status") == "exited":
                        if state.get("ExitCode", 0) != 0 and required:
                            raise ComposeError(f'service "{dep}" didn\'t complete successfully:'
                                               f' exit {state.get("ExitCode")}')
                        break
                if deadline is not None and self.clock() > deadline:
                    raise ComposeError(f"timeout waiting for {cname} ({condition})")
                self.sleep(0.1)
            self.report("Container", cname, "Healthy" if condition == "service_healthy"
                        else "Exited")

    def up(self, opts: UpOptions) -> dict[str, list[str]]:
        """compose up (detached part): resources, images, containers, start, orphans.

        Returns:
            Service name → container ids.
        """
        names = opts.services or list(self.project.services)
        for n in names:
            self.project.service(n)
        if not opts.no_deps:
            names = graph.with_dependencies(self.project, names)
        convert.check_supported(self.project)
        for n in names:  # every body converts before anything is created
            try:
                convert.container_body(self.project, self.project.services[n], 1)
            except errors.EngineError as exc:
                raise self.project.marks.error(str(exc), ("services", n)) from None
        self.handle_orphans(opts.remove_orphans, opts.timeout)
        self.ensure_networks(names)
        self.ensure_volumes(names)
        self.ensure_images(names, opts.build, opts.no_build, opts.pull)
        levels = graph.levels(self.project, names)
        ids: dict[str, list[str]] = {}

        def converge(n: str) -> None:
            ids[n] = self.converge(n, opts)

        self.levels(levels, converge)
        if not opts.no_start:
            self.levels(levels, lambda n: self.start_service(n, ids[n]))
        if opts.wait:
            self.wait_running(names, opts.wait_timeout)
        return ids

    def handle_orphans(self, remove: bool, timeout: int | None = None) -> None:
        orphans = self.orphans()
        if not orphans:
            return
        if remove:
            self.all(orphans, lambda c: self.remove_container(c, timeout=timeout))
        else:
            self.warn(f"Found orphan containers ({', '.join(name_of(c) for c in orphans)}) "
                      f"for this project. If you removed or renamed this service in your "
                      "compose file, you can run this command with the --remove-orphans "
                      "flag to clean it up.")

    def wait_running(self, names: list[str], timeout: float = 0) -> None:
        """``--wait``: every container running (and healthy when it has a health check)."""
        for n in names:
            svc = self.project.services[n]
            has_health = bool(svc.get("healthcheck")) and not svc.get("healthcheck").get(
                "disable")
            if has_health:
                self.wait_condition(n, "service_healthy", True, timeout)
            for c in self.containers(n):
                state = self.api.containers.inspect(c["Id"]).get("State") or {}
                if not state.get("Running") and state.get("ExitCode", 0) != 0:
                    raise ComposeError(f"container {name_of(c)} exited "
                                       f"({state.get('ExitCode')})")
                self.report("Container", name_of(c), "Healthy" if has_health else "Running")
