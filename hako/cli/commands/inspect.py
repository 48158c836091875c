"""``inspect``, ``container inspect``, ``image inspect``: JSON or ``-f`` templates."""

from __future__ import annotations

from typing import Any

from hako import errors
from hako.cli.formatting import print_json_indent
from hako.cli.gotemplate import Template
from hako.cli.main import CliError
from hako.cli.parsing import Parser

_NOT_FOUND = {None: "No such object", "container": "No such container",
              "image": "No such image"}


def _fetch(ctx: Any, ref: str, kind: str | None, size: bool) -> Any:
    if kind in (None, "container"):
        try:
            return ctx.api.containers.inspect(ref, size=size)
        except errors.NotFound:
            if kind == "container":
                raise
    if kind in (None, "image"):
        return ctx.api.images.inspect(ref)
    raise CliError(f'"{kind}" is not a valid value for --type')


def _inspect(ctx: Any, command: str, argv: list[str], kind: str | None) -> int:
    p = Parser(command, "[OPTIONS] NAME|ID [NAME|ID...]")
    p.option("-f", "--format")
    p.flag("-s", "--size")
    if kind is None:
        p.option("--type")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    kind = kind or getattr(opts, "type", None) or None
    if kind not in (None, "container", "image"):
        raise CliError(f'"{kind}" is not a valid value for --type')
    tmpl = Template(opts.format.replace("\\t", "\t").replace("\\n", "\n")) \
        if opts.format and opts.format != "json" else None
    found, failures = [], []
    for ref in args:
        try:
            obj = _fetch(ctx, ref, kind, opts.size)
        except errors.NotFound as exc:
            failures.append(f"{_NOT_FOUND[kind]}: {ref}" if kind is None
                            else f"Error response from daemon: {exc}")
            continue
        if tmpl is not None:
            ctx.out(tmpl.render(obj))
        else:
            found.append(obj)
    if tmpl is None:
        print_json_indent(found, ctx.stdout.write)
    if failures:
        if kind is None:
            raise CliError("\n".join(failures))
        ctx.err("\n".join(failures))
        return 1
    return 0


def inspect(ctx: Any, argv: list[str]) -> int:
    """hako inspect [-f FORMAT] [-s] [--type container|image] NAME|ID..."""
    return _inspect(ctx, "inspect", argv, None)


def container_inspect(ctx: Any, argv: list[str]) -> int:
    """hako container inspect [-f FORMAT] [-s] CONTAINER..."""
    return _inspect(ctx, "container inspect", argv, "container")


def image_inspect(ctx: Any, argv: list[str]) -> int:
    """hako image inspect [-f FORMAT] IMAGE..."""
    return _inspect(ctx, "image inspect", argv, "image")
