"""``hako compose run``: a one-off container of a service (``<project>-<service>-run-<id>``,
``com.docker.compose.oneoff=True``), its dependencies brought up first unless
``--no-deps``, published ports only with ``--service-ports``/``-p``."""

from __future__ import annotations

import os
from typing import Any

from hako.cli.commands.compose import load


def run_oneoff(ctx: Any, opts: Any, name: str, command: list[str]) -> int:
    from hako.cli.commands.compose_ops import quiet_pulls, service
    from hako.compose import convert, graph
    from hako.compose.project import UpOptions

    project = load(ctx, [name])
    svc = project.service(name)
    cs = service(ctx, project)
    if opts.quiet_pull:
        quiet_pulls(cs)
    if not opts.no_deps:
        deps = [d for d in graph.with_dependencies(project, [name]) if d != name]
        if deps:
            cs.up(UpOptions(services=deps, remove_orphans=opts.remove_orphans))
    convert.check_supported(project)
    cs.ensure_networks([name])
    cs.ensure_volumes([name])
    cs.ensure_images([name], build=opts.build)
    spec = _oneoff_spec(ctx, opts, svc.spec, command, project)
    from hako.compose.model import Service

    one = Service(name, spec)
    body = convert.container_body(project, one, 1, oneoff=True)
    if not opts.use_aliases:  # a one-off answers to its own name only, unless -P
        for ep in ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).values():
            ep.pop("Aliases", None)
    if opts.publish:
        from hako.opts.ports import parse_publish, to_port_map

        bindings = [b for spec_ in opts.publish for b in parse_publish(spec_)]
        body["HostConfig"]["PortBindings"] = to_port_map(bindings)
        body.setdefault("ExposedPorts", {}).update({b.key: {} for b in bindings})
    cname = opts.name or f"{project.name}-{name}-run-{os.urandom(6).hex()}"
    body["HostConfig"]["AutoRemove"] = bool(opts.rm and opts.detach)
    quiet = _Quiet()
    from hako.compose.project import ComposeService

    creator = ComposeService(ctx.api, project, quiet)
    cid = creator.create_container(one, 1, name=cname, oneoff=True, body=body)
    if opts.detach:
        ctx.api.containers.start(cid)
        ctx.out(cname)
        return 0
    from hako.cli.commands.run import start

    argv = ["-a"] + (["-i"] if not opts.no_TTY or opts.interactive else [])
    try:
        return start(ctx, argv + [cid])
    finally:
        if opts.rm:
            try:
                ctx.api.containers.remove(cid, force=True, volumes=True)
            except Exception:  # noqa: BLE001 - already gone (AutoRemove) is fine
                pass


def _oneoff_spec(ctx: Any, opts: Any, base: dict[str, Any], command: list[str],
                 project: Any) -> dict[str, Any]:
    """The service's spec as ``run``'s flags change it (ports only with --service-ports)."""
    spec = dict(base)
    if not opts.service_ports:
        spec.pop("ports", None)
    if command:
        spec["command"] = command
    if opts.entrypoint is not None:
        import shlex

        spec["entrypoint"] = shlex.split(opts.entrypoint)
    if opts.user:
        spec["user"] = opts.user
    if opts.workdir:
        spec["working_dir"] = opts.workdir
    env = dict(spec.get("environment") or {})
    for item in opts.env:
        k, eq, v = item.partition("=")
        env[k] = v if eq else ctx.environ.get(k)
    spec["environment"] = env
    if opts.label:
        spec["labels"] = {**(spec.get("labels") or {}),
                          **{k: v for k, _, v in (i.partition("=") for i in opts.label)}}
    if opts.volume:
        from hako.compose.model import volume_entry

        spec["volumes"] = list(spec.get("volumes") or []) + [
            volume_entry(v, ("run", "volume"), project.marks) for v in opts.volume]
    tty = not opts.no_TTY and _tty(ctx)
    spec["tty"] = tty
    spec["stdin_open"] = not opts.detach
    spec.pop("container_name", None)
    return spec


class _Quiet:
    def __call__(self, kind: str, name: str, status: str) -> None:
        pass


def _tty(ctx: Any) -> bool:
    try:
        return os.isatty(ctx.stdin.fileno()) and os.isatty(ctx.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False
