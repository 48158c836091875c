"""``ps`` (``container ls``): the container table."""

from __future__ import annotations

from typing import Any

from hako.cli import formatting as fmt
from hako.cli.parsing import Parser, go_int
from hako.opts import filters as fopts


def ps(ctx: Any, argv: list[str]) -> int:
    """hako ps [-a] [-l] [-q] [-n N] [--no-trunc] [-s] [-f k=v] [--format F]"""
    p = Parser("ps", "[OPTIONS]")
    p.flag("-a", "--all")
    p.flag("-l", "--latest")
    p.flag("-q", "--quiet")
    p.option("-n", "--last", type=go_int, default=-1)
    p.flag("--no-trunc")
    p.flag("-s", "--size")
    p.multi("-f", "--filter")
    p.option("--format")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=0)
    last = opts.last
    if opts.latest and last == -1:
        last = 1
    filters = fopts.to_wire(fopts.parse_flags(opts.filter))
    size = opts.size or bool(opts.format and ".Size" in opts.format)
    items = ctx.api.containers.list(all=opts.all or last > 0, limit=last if last > 0 else None,
                                    size=size, filters=filters)
    if opts.quiet:
        template = "{{.ID}}"
    elif opts.format:
        template = fmt.PS_TABLE if opts.format == "table" else opts.format
    else:
        template = fmt.PS_TABLE + ("\t{{.Size}}" if opts.size else "")
    if not items and template != "json":  # docker ps checks the template even with no rows
        fmt.render(template, [fmt.container_row({})], fmt.PS_HEADERS)
    rows = [fmt.container_row(c, trunc=not opts.no_trunc) for c in items]
    ctx.stdout.write(fmt.render(template, rows, fmt.PS_HEADERS))
    return 0
