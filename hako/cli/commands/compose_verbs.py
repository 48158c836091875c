"""``hako compose`` verbs that look at or into a project: ps, logs, top, port, images,
events, exec, run, cp."""

from __future__ import annotations

import json
import threading
from typing import Any

from hako.cli.commands.compose import load
from hako.cli.commands.compose_view import LogPrinter, short_name, stream_logs, table, use_color
from hako.cli.parsing import Parser, UsageError, go_int


def _containers(ctx: Any, project: Any, services: list[str], all: bool = True,
                oneoff: bool | None = False) -> list[dict[str, Any]]:
    from hako.compose import labels as L

    for n in services:
        project.service(n)
    found = ctx.api.containers.list(all=all, filters=L.project_filter(project.name, None, oneoff))
    found = [c for c in found if not services or (c.get("Labels") or {}).get(L.SERVICE)
             in services]
    return sorted(found, key=lambda c: (c.get("Names") or [""])[0])


def _pick(ctx: Any, project: Any, name: str, index: int) -> dict[str, Any]:
    from hako.compose.project import number_of

    found = [c for c in _containers(ctx, project, [name], all=False)
             if number_of(c) == index]
    if not found:
        raise UsageError(f"service \"{name}\" is not running", 1)
    return found[0]


def ps(ctx: Any, argv: list[str]) -> int:
    """hako compose ps [-a] [-q] [--services] [--status S] [--format table|json]"""
    from hako.cli import formatting as fmt
    from hako.compose import labels as L

    p = Parser("compose ps", "[OPTIONS] [SERVICE...]")
    p.flag("-a", "--all")
    p.flag("-q", "--quiet")
    p.flag("--services")
    p.flag("--no-trunc")
    p.multi("--status")
    p.multi("--filter")
    p.option("--format", default="table")
    opts, names = p.parse(argv, ctx.stderr)
    if opts.format not in ("table", "json"):
        raise UsageError(f"unsupported --format {opts.format!r}: table or json", 1)
    for f in opts.filter:
        if not f.startswith("status="):
            raise UsageError(f"invalid filter {f!r}: hako compose ps filters by status only", 1)
    project = load(ctx, names)
    statuses = opts.status + [f.partition("=")[2] for f in opts.filter]
    found = _containers(ctx, project, names, all=opts.all or bool(statuses))
    if statuses:
        found = [c for c in found if c.get("State") in statuses]
    if opts.quiet:
        for c in found:
            ctx.out(c["Id"])
        return 0
    if opts.services:
        for s in dict.fromkeys((c.get("Labels") or {}).get(L.SERVICE, "") for c in found):
            ctx.out(s)
        return 0
    rows = []
    for c in found:
        r = fmt.container_row(c, trunc=not opts.no_trunc)
        rows.append({"ID": c["Id"], "Name": r["Names"], "Image": c.get("Image", ""),
                     "Command": r["Command"],
                     "Project": project.name,
                     "Service": (c.get("Labels") or {}).get(L.SERVICE, ""),
                     "Created": r["RunningFor"], "State": c.get("State", ""),
                     "Status": c.get("Status", ""), "Ports": r["Ports"]})
    if opts.format == "json":
        ctx.out(json.dumps(rows))
        return 0
    ctx.stdout.write(table(["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS",
                            "PORTS"], [[r["Name"], r["Image"], r["Command"], r["Service"],
                                        r["Created"], r["Status"], r["Ports"]] for r in rows]))
    return 0


def logs(ctx: Any, argv: list[str]) -> int:
    """hako compose logs [-f] [-t] [-n N] [--no-color] [--no-log-prefix] [SERVICE...]"""
    from hako.cli.commands.logs import timestamp_arg

    p = Parser("compose logs", "[OPTIONS] [SERVICE...]")
    p.flag("-f", "--follow")
    p.flag("-t", "--timestamps")
    p.flag("--no-color")
    p.flag("--no-log-prefix")
    p.option("-n", "--tail", default="all")
    p.option("--since")
    p.option("--until")
    p.option("--index", type=go_int, default=0)
    opts, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    found = _containers(ctx, project, names, oneoff=None)
    if opts.index:
        from hako.compose.project import number_of

        found = [c for c in found if number_of(c) == opts.index]
    labels = {c["Id"]: short_name(c, project.name) for c in found}
    printer = LogPrinter(ctx.stdout, list(labels.values()), use_color(ctx) and not opts.no_color,
                         not opts.no_log_prefix)
    since, until = timestamp_arg(opts.since), timestamp_arg(opts.until)
    threads = [threading.Thread(target=stream_logs, daemon=True, args=(
        ctx.api, cid, labels[cid], printer, opts.follow, opts.tail, opts.timestamps, since,
        until)) for cid in labels]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        return 130
    return 0


def top(ctx: Any, argv: list[str]) -> int:
    """hako compose top [SERVICE...]"""
    p = Parser("compose top", "[SERVICE...]")
    _, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    for c in _containers(ctx, project, names, all=False):
        doc = ctx.api.containers.top(c["Id"])
        ctx.out((c.get("Names") or [""])[0].lstrip("/"))
        ctx.stdout.write(table(doc.get("Titles") or [], doc.get("Processes") or []))
        ctx.out()
    return 0


def port(ctx: Any, argv: list[str]) -> int:
    """hako compose port [--protocol P] [--index N] SERVICE PRIVATE_PORT"""
    p = Parser("compose port", "[OPTIONS] SERVICE PRIVATE_PORT")
    p.option("--protocol", default="tcp")
    p.option("--index", type=go_int, default=1)
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=2)
    project = load(ctx, args[:1])
    c = _pick(ctx, project, args[0], opts.index)
    info = ctx.api.containers.inspect(c["Id"])
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = ports.get(f"{args[1]}/{opts.protocol}") or []
    if not bindings:
        raise UsageError(f"no port {args[1]}/{opts.protocol} for container "
                         f"{info['Name'].lstrip('/')}: no public port", 1)
    b = bindings[0]
    ctx.out(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
    return 0


def images(ctx: Any, argv: list[str]) -> int:
    """hako compose images [-q] [SERVICE...]"""
    from hako.cli.formatting import familiar
    from hako.support.units import human_size

    p = Parser("compose images", "[OPTIONS] [SERVICE...]")
    p.flag("-q", "--quiet")
    p.option("--format", default="table")
    opts, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    rows = []
    for c in _containers(ctx, project, names):
        img = ctx.api.images.inspect(c.get("ImageID") or c.get("Image"))
        tags = img.get("RepoTags") or ["<none>:<none>"]
        repo, _, tag = familiar(tags[0]).rpartition(":")
        rows.append([(c.get("Names") or [""])[0].lstrip("/"), repo, tag,
                     img["Id"].split(":")[-1][:12], human_size(img.get("Size") or 0)])
    if opts.quiet:
        for r in dict.fromkeys(r[3] for r in rows):
            ctx.out(r)
        return 0
    if opts.format == "json":
        ctx.out(json.dumps([{"ContainerName": r[0], "Repository": r[1], "Tag": r[2],
                             "ID": r[3], "Size": r[4]} for r in rows]))
        return 0
    if opts.format != "table":
        raise UsageError(f"unsupported --format {opts.format!r}: table or json", 1)
    ctx.stdout.write(table(["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], rows))
    return 0


def events(ctx: Any, argv: list[str]) -> int:
    """hako compose events [--json] [SERVICE...]: the project's container events."""
    from hako.client.streams import json_lines
    from hako.compose import labels as L

    p = Parser("compose events", "[OPTIONS] [SERVICE...]")
    p.flag("--json")
    opts, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    resp = ctx.api.system.events(filters={"label": [f"{L.PROJECT}={project.name}"],
                                          "type": ["container"]})
    for ev in json_lines(resp.iter_chunks()):
        attrs = (ev.get("Actor") or {}).get("Attributes") or {}
        svc = attrs.get(L.SERVICE, "")
        if names and svc not in names:
            continue
        if opts.json:
            ctx.out(json.dumps({"time": ev.get("time"), "type": "container",
                                "action": ev.get("Action"), "id": ev.get("id"),
                                "service": svc, "attributes": attrs}))
        else:
            extra = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())
                              if not k.startswith("com.docker.compose"))
            ctx.out(f"{ev.get('time')} container {ev.get('Action')} {ev.get('id')} ({extra})")
        ctx.stdout.flush()
    return 0


def exec(ctx: Any, argv: list[str]) -> int:
    """hako compose exec [-d] [-T] [-e K=V] [-u U] [-w W] [--index N] SERVICE COMMAND..."""
    from hako.cli.commands.exec import exec_

    p = Parser("compose exec", "[OPTIONS] SERVICE COMMAND [ARGS...]", interspersed=False)
    p.flag("-d", "--detach")
    p.flag("-T", "--no-TTY")
    p.flag("--privileged")
    p.multi("-e", "--env")
    p.option("-u", "--user")
    p.option("-w", "--workdir")
    p.option("--index", type=go_int, default=1)
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=2)
    project = load(ctx, args[:1])
    c = _pick(ctx, project, args[0], opts.index)
    tty = not opts.no_TTY and _isatty(ctx)
    flags = ["-d"] if opts.detach else ["-i"]
    flags += ["-t"] if tty and not opts.detach else []
    flags += ["--privileged"] if opts.privileged else []
    for e in opts.env:
        flags += ["-e", e]
    flags += ["-u", opts.user] if opts.user else []
    flags += ["-w", opts.workdir] if opts.workdir else []
    return exec_(ctx, flags + [c["Id"], *args[1:]])


def _isatty(ctx: Any) -> bool:
    import os

    try:
        return os.isatty(ctx.stdin.fileno()) and os.isatty(ctx.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def cp(ctx: Any, argv: list[str]) -> int:
    """hako compose cp [--index N] SERVICE:SRC DEST | SRC SERVICE:DEST"""
    from hako.cli.commands.cp import cp as cp_cmd

    p = Parser("compose cp", "[OPTIONS] SERVICE:SRC_PATH DEST_PATH|-")
    p.option("--index", type=go_int, default=1)
    p.flag("-a", "--archive")
    p.flag("-L", "--follow-link")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=2)
    project = load(ctx)
    out = []
    for a in args:
        svc, sep, path = a.partition(":")
        if sep and svc in project.services:
            out.append(f"{_pick(ctx, project, svc, opts.index)['Id']}:{path}")
        else:
            out.append(a)
    flags = (["-a"] if opts.archive else []) + (["-L"] if opts.follow_link else [])
    return cp_cmd(ctx, flags + out)


def run(ctx: Any, argv: list[str]) -> int:
    """hako compose run [--rm] [-d] [-e K=V] [--service-ports] [--no-deps] SERVICE [CMD...]"""
    from hako.cli.commands.compose_oneoff import run_oneoff

    p = Parser("compose run", "[OPTIONS] SERVICE [COMMAND] [ARGS...]", interspersed=False)
    for f in (("-d", "--detach"), ("--rm",), ("--service-ports",), ("--no-deps",),
              ("-T", "--no-TTY"), ("-i", "--interactive"), ("--build",),
              ("--remove-orphans",), ("-P", "--use-aliases"), ("-q", "--quiet-pull")):
        p.flag(*f)
    p.multi("-e", "--env")
    p.multi("-l", "--label")
    p.multi("-p", "--publish")
    p.multi("-v", "--volume")
    p.option("--name")
    p.option("--entrypoint")
    p.option("-u", "--user")
    p.option("-w", "--workdir")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    return run_oneoff(ctx, opts, args[0], args[1:])
