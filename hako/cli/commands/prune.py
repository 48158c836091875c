"""``container prune``, ``builder prune`` and ``system prune`` (docker's texts and order)."""

from __future__ import annotations

from typing import Any

from hako.cli.commands import confirm, print_deleted
from hako.cli.parsing import Parser
from hako.opts import filters as fopts
from hako.support.units import human_size


def _parser(command: str, *flags: str) -> Parser:
    p = Parser(command, "[OPTIONS]")
    p.flag("-f", "--force")
    p.multi("--filter")
    for name in flags:
        if name == "--keep-storage":
            p.option(name)
        else:
            p.flag(*(("-a", name) if name == "--all" else (name,)))
    return p


def _containers(ctx: Any, filters: dict[str, list[str]] | None) -> int:
    doc = ctx.api.containers.prune(filters) or {}
    print_deleted(ctx, "Containers", doc.get("ContainersDeleted") or [])
    return int(doc.get("SpaceReclaimed") or 0)


def _images(ctx: Any, filters: dict[str, list[str]]) -> int:
    doc = ctx.api.images.prune(filters) or {}
    lines = [f"{k.lower()}: {item[k]}" for item in doc.get("ImagesDeleted") or []
             for k in ("Untagged", "Deleted") if item.get(k)]
    print_deleted(ctx, "Images", lines)
    return int(doc.get("SpaceReclaimed") or 0)


def _build_cache(ctx: Any, all_: bool, filters: dict[str, list[str]] | None,
                 keep: str | None = None) -> int:
    params: dict[str, Any] = {"all": all_ or None, "filters": filters or None}
    if keep:
        from hako.opts.resources import parse_memory

        params["keep-storage"] = parse_memory(keep)
    doc = ctx.api.system.build_prune(params) or {}
    print_deleted(ctx, "build cache objects", doc.get("CachesDeleted") or [])
    return int(doc.get("SpaceReclaimed") or 0)


def container_prune(ctx: Any, argv: list[str]) -> int:
    """hako container prune [-f] [--filter until=…|label=…]"""
    p = _parser("container prune")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=0)
    filters = fopts.to_wire(fopts.parse_flags(opts.filter))
    if not opts.force and not confirm(ctx, "WARNING! This will remove all stopped containers."):
        return 0
    ctx.out(f"Total reclaimed space: {human_size(_containers(ctx, filters))}")
    return 0


def builder_prune(ctx: Any, argv: list[str]) -> int:
    """hako builder prune [-a] [-f] [--filter k=v] [--keep-storage SIZE]"""
    p = _parser("builder prune", "--all", "--keep-storage")
    p.usage_line = "hako builder prune"
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=0)
    filters = fopts.to_wire(fopts.parse_flags(opts.filter))
    what = "all build cache" if opts.all else "all dangling build cache"
    if not opts.force and not confirm(ctx, f"WARNING! This will remove {what}."):
        return 0
    ctx.out(f"Total reclaimed space: "
            f"{human_size(_build_cache(ctx, opts.all, filters, opts.keep_storage))}")
    return 0


def system_prune(ctx: Any, argv: list[str]) -> int:
    """hako system prune [-a] [-f] [--volumes] [--filter k=v]"""
    p = _parser("system prune", "--all", "--volumes")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=0)
    filters = fopts.parse_flags(opts.filter)
    items = ["all stopped containers", "all networks not used by at least one container"]
    if opts.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items += ["all images without at least one container associated to them" if opts.all
              else "all dangling images",
              "unused build cache" if opts.all else "all dangling build cache"]
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if not opts.force and not confirm(ctx, warning):
        return 0
    wire = fopts.to_wire(filters)
    total = _containers(ctx, wire)
    print_deleted(ctx, "Networks", (ctx.api.networks.prune(wire) or {}).get("NetworksDeleted")
                  or [])
    if opts.volumes:
        doc = ctx.api.volumes.prune(wire) or {}
        print_deleted(ctx, "Volumes", doc.get("VolumesDeleted") or [])
        total += int(doc.get("SpaceReclaimed") or 0)
    total += _images(ctx, fopts.to_wire({**filters, "dangling": {"false" if opts.all
                                                                 else "true"}}))
    total += _build_cache(ctx, opts.all, wire)
    ctx.out(f"Total reclaimed space: {human_size(total)}")
    return 0
