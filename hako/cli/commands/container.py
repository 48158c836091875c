"""Container verbs without stdio: stop, kill, restart, rm, rename, pause, unpause, wait,
top, diff, export, port."""

from __future__ import annotations

import sys
from typing import Any

from hako.cli.commands import for_each
from hako.cli.formatting import tabwrite
from hako.cli.main import CliError
from hako.cli.parsing import Parser, go_int


def _batch(ctx: Any, name: str, argv: list[str], setup, action) -> int:
    p = Parser(name, "[OPTIONS] CONTAINER [CONTAINER...]")
    setup(p)
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    return for_each(ctx, args, lambda ref: action(opts, ref))


def stop(ctx: Any, argv: list[str]) -> int:
    """hako stop [-t N] [-s SIGNAL] CONTAINER..."""
    def setup(p):
        p.option("-t", "--time", "--timeout", type=go_int)
        p.option("-s", "--signal")
    return _batch(ctx, "stop", argv, setup,
                  lambda o, ref: ctx.api.containers.stop(ref, o.time, o.signal))


def restart(ctx: Any, argv: list[str]) -> int:
    """hako restart [-t N] [-s SIGNAL] CONTAINER..."""
    def setup(p):
        p.option("-t", "--time", "--timeout", type=go_int)
        p.option("-s", "--signal")
    return _batch(ctx, "restart", argv, setup,
                  lambda o, ref: ctx.api.containers.restart(ref, o.time, o.signal))


def kill(ctx: Any, argv: list[str]) -> int:
    """hako kill [-s SIGNAL] CONTAINER..."""
    return _batch(ctx, "kill", argv, lambda p: p.option("-s", "--signal"),
                  lambda o, ref: ctx.api.containers.kill(ref, o.signal))


def rm(ctx: Any, argv: list[str]) -> int:
    """hako rm [-f] [-v] [-l] CONTAINER..."""
    def setup(p):
        p.flag("-f", "--force")
        p.flag("-v", "--volumes")
        p.flag("-l", "--link")
    return _batch(ctx, "rm", argv, setup,
                  lambda o, ref: ctx.api.containers.remove(ref, o.force, o.volumes, o.link))


def pause(ctx: Any, argv: list[str]) -> int:
    """hako pause CONTAINER..."""
    return _batch(ctx, "pause", argv, lambda p: None,
                  lambda o, ref: ctx.api.containers.pause(ref))


def unpause(ctx: Any, argv: list[str]) -> int:
    """hako unpause CONTAINER..."""
    return _batch(ctx, "unpause", argv, lambda p: None,
                  lambda o, ref: ctx.api.containers.unpause(ref))


def wait(ctx: Any, argv: list[str]) -> int:
    """hako wait CONTAINER... (prints each exit code)."""
    codes = []

    def one(o, ref):
        codes.append(ctx.api.containers.wait(ref))
        ctx.out(str(codes[-1]))
    p = Parser("wait", "CONTAINER [CONTAINER...]")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    return for_each(ctx, args, lambda ref: one(opts, ref), echo=False)


def rename(ctx: Any, argv: list[str]) -> int:
    """hako rename CONTAINER NEW_NAME"""
    p = Parser("rename", "CONTAINER NEW_NAME")
    _, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=2)
    if not args[1].strip():
        raise CliError("Neither old nor new names may be empty")
    from hako import errors

    try:
        ctx.api.containers.rename(args[0], args[1])
    except errors.EngineError as exc:
        ctx.err(f"Error response from daemon: {exc}")
        raise CliError(f"failed to rename container named {args[0]}") from exc
    return 0


def top(ctx: Any, argv: list[str]) -> int:
    """hako top CONTAINER [ps OPTIONS]"""
    p = Parser("top", "CONTAINER [ps OPTIONS]", interspersed=False)
    _, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    doc = ctx.api.containers.top(args[0], " ".join(args[1:]) or None)
    lines = ["\t".join(doc.get("Titles") or [])]
    lines += ["\t".join(row) for row in doc.get("Processes") or []]
    ctx.stdout.write(tabwrite(lines, minwidth=20, padding=3))
    return 0


def diff(ctx: Any, argv: list[str]) -> int:
    """hako diff CONTAINER"""
    p = Parser("diff", "CONTAINER")
    _, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    kinds = {0: "C", 1: "A", 2: "D"}
    for change in ctx.api.containers.changes(args[0]):
        ctx.out(f"{kinds.get(change.get('Kind'), '?')} {change.get('Path')}")
    return 0


def export(ctx: Any, argv: list[str]) -> int:
    """hako export [-o FILE] CONTAINER"""
    p = Parser("export", "[OPTIONS] CONTAINER")
    p.option("-o", "--output")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    if not opts.output and ctx.stdout.isatty():
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = ctx.api.containers.export(args[0])
    write_stream(ctx, resp, opts.output)
    return 0


def write_stream(ctx: Any, resp: Any, path: str | None) -> None:
    """Copy a response body to ``path`` (atomically) or to stdout."""
    if path:
        import os
        import tempfile

        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".hako-", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in resp.iter_chunks():
                    f.write(chunk)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return
    ctx.stdout.flush()
    out = getattr(ctx.stdout, "buffer", sys.stdout.buffer)
    for chunk in resp.iter_chunks():
        out.write(chunk)
    out.flush()


def port(ctx: Any, argv: list[str]) -> int:
    """hako port CONTAINER [PRIVATE_PORT[/PROTO]]"""
    p = Parser("port", "CONTAINER [PRIVATE_PORT[/PROTO]]")
    _, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1, at_most=2)
    info = ctx.api.containers.inspect(args[0])
    ports = ((info.get("NetworkSettings") or {}).get("Ports")) or {}
    want = None
    if len(args) == 2:
        want = args[1] if "/" in args[1] else args[1] + "/tcp"
        if want not in ports or not ports[want]:
            raise CliError(f"No public port '{want}' published for {args[0]}")
    lines = []
    for key in ports:
        for b in ports[key] or []:
            host = b.get("HostIp") or "0.0.0.0"
            host = f"[{host}]" if ":" in host else host
            if want is None:
                lines.append(f"{key} -> {host}:{b.get('HostPort')}")
            elif key == want:
                lines.append(f"{host}:{b.get('HostPort')}")
    for line in sorted(lines):  # the docker CLI sorts its lines
        ctx.out(line)
    return 0
