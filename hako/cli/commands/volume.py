"""Volume verbs: volume create, ls, inspect, rm, prune (docker's output)."""

from __future__ import annotations

from typing import Any

from hako import errors
from hako.cli import formatting as fmt
from hako.cli.commands import confirm, for_each, print_deleted
from hako.cli.gotemplate import Template
from hako.cli.main import CliError
from hako.cli.parsing import Parser
from hako.opts import filters as fopts
from hako.support.units import human_size

VOLUME_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT",
                  "Scope": "SCOPE", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
                  "CreatedAt": "CREATED AT"}
VOLUME_TABLE = "table {{.Driver}}\t{{.Name}}"


def _key_values(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep and what == "opt":
            raise CliError(f'invalid argument "{item}" for "-o, --opt" flag: '
                           f"invalid key value pair format in driver options")
        out[key] = value
    return out


def create(ctx: Any, argv: list[str]) -> int:
    """hako volume create [-d DRIVER] [-o k=v]... [--label k=v]... [NAME]"""
    p = Parser("volume create", "[OPTIONS] [VOLUME]")
    p.option("-d", "--driver", default="local")
    p.multi("-o", "--opt")
    p.multi("--label")
    p.option("--name")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_most=1)
    name = args[0] if args else (opts.name or "")
    if args and opts.name and opts.name != args[0]:
        raise CliError(f"conflicting options: either specify --name or provide positional "
                       f"arg, not both")
    vol = ctx.api.volumes.create(name, opts.driver, _key_values(opts.opt, "opt"),
                                 _key_values(opts.label, "label"))
    ctx.out(vol["Name"])
    return 0


def _row(v: dict[str, Any]) -> dict[str, Any]:
    labels = ",".join(f"{k}={val}" for k, val in sorted((v.get("Labels") or {}).items()))
    usage = v.get("UsageData") or {}
    return {"Driver": v.get("Driver", ""), "Name": v.get("Name", ""),
            "Mountpoint": v.get("Mountpoint", ""), "Scope": v.get("Scope", ""),
            "Labels": labels, "CreatedAt": v.get("CreatedAt", ""),
            "Links": str(usage.get("RefCount", "N/A")) if usage else "N/A",
            "Size": human_size(usage["Size"]) if usage.get("Size", -1) >= 0 else "N/A"}


def ls(ctx: Any, argv: list[str]) -> int:
    """hako volume ls [-q] [-f k=v]... [--format F]"""
    p = Parser("volume ls", "[OPTIONS]")
    p.flag("-q", "--quiet")
    p.multi("-f", "--filter")
    p.option("--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_most=0)
    doc = ctx.api.volumes.list(fopts.to_wire(fopts.parse_flags(opts.filter)))
    vols = sorted(doc.get("Volumes") or [], key=lambda v: v.get("Name", ""))
    if opts.quiet:
        ctx.stdout.write("".join(v["Name"] + "\n" for v in vols))
        return 0
    template = opts.format or VOLUME_TABLE
    if template == "table":
        template = VOLUME_TABLE
    ctx.stdout.write(fmt.render(template, [_row(v) for v in vols], VOLUME_HEADERS, raw=vols))
    return 0


def inspect(ctx: Any, argv: list[str]) -> int:
    """hako volume inspect [-f F] VOLUME..."""
    p = Parser("volume inspect", "[OPTIONS] VOLUME [VOLUME...]")
    p.option("-f", "--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    tmpl = Template(opts.format.replace("\\t", "\t").replace("\\n", "\n")) \
        if opts.format and opts.format != "json" else None
    found, failures = [], []
    for name in args:
        try:
            obj = ctx.api.volumes.inspect(name)
        except errors.NotFound as exc:
            failures.append(f"Error response from daemon: {exc}")
            continue
        if tmpl is not None:
            ctx.out(tmpl.render(obj))
        else:
            found.append(obj)
    if tmpl is None:
        fmt.print_json_indent(found, ctx.stdout.write)
    if failures:
        ctx.err("\n".join(failures))
        return 1
    return 0


def rm(ctx: Any, argv: list[str]) -> int:
    """hako volume rm [-f] VOLUME..."""
    p = Parser("volume rm", "[OPTIONS] VOLUME [VOLUME...]")
    p.flag("-f", "--force")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    return for_each(ctx, args, lambda name: ctx.api.volumes.remove(name, opts.force))


def prune(ctx: Any, argv: list[str]) -> int:
    """hako volume prune [-f] [--filter label=…]"""
    p = Parser("volume prune", "[OPTIONS]")
    p.flag("-f", "--force")
    p.flag("-a", "--all")
    p.multi("--filter")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_most=0)
    if not opts.force and not confirm(ctx, "WARNING! This will remove all local volumes not "
                                           "used by at least one container."):
        return 0
    doc = ctx.api.volumes.prune(fopts.to_wire(fopts.parse_flags(opts.filter))) or {}
    print_deleted(ctx, "Volumes", doc.get("VolumesDeleted") or [])
    ctx.out(f"Total reclaimed space: {human_size(doc.get('SpaceReclaimed') or 0)}")
    return 0
