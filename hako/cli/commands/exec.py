"""``exec``: run a command in a running container."""

from __future__ import annotations

import os
from typing import Any

from hako.cli.main import CliError
from hako.cli.parsing import Parser
from hako.cli.stdio import RawTerminal, pump
from hako.opts.env import merge_env


def exec_(ctx: Any, argv: list[str]) -> int:
    """hako exec [OPTIONS] CONTAINER COMMAND [ARG...]"""
    p = Parser("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", interspersed=False)
    p.flag("-d", "--detach")
    p.option("--detach-keys")
    p.multi("-e", "--env")
    p.multi("--env-file")
    p.flag("-i", "--interactive")
    p.flag("--privileged")
    p.flag("-t", "--tty")
    p.option("-u", "--user")
    p.option("-w", "--workdir")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=2)
    stdin_fd = None
    try:
        stdin_fd = ctx.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        pass
    if opts.tty and opts.interactive and not (stdin_fd is not None and os.isatty(stdin_fd)):
        raise CliError("the input device is not a TTY", bare=True)
    body = {
        "User": opts.user or "", "Privileged": opts.privileged, "Tty": opts.tty,
        "AttachStdin": opts.interactive and not opts.detach,
        "AttachStdout": not opts.detach, "AttachStderr": not opts.detach,
        "DetachKeys": opts.detach_keys or "",
        "Env": merge_env(opts.env_file, opts.env, ctx.environ) or None,
        "WorkingDir": opts.workdir or "", "Cmd": args[1:],
    }
    api = ctx.api
    exec_id = api.exec.create(args[0], body)
    if opts.detach:
        api.exec.start_detached(exec_id, opts.tty)
        return 0
    hijacked = api.exec.start_attached(exec_id, opts.tty)
    ctx.stdout.flush()
    use_stdin = stdin_fd if opts.interactive else None
    with RawTerminal(stdin_fd if stdin_fd is not None else 0, opts.tty and opts.interactive,
                     lambda h, w: api.exec.resize(exec_id, h, w) if opts.tty else None) as term:
        if opts.tty:
            term.resize()
        pump(hijacked, use_stdin, ctx.stdout.fileno(), ctx.stderr.fileno(), opts.tty)
    doc = api.exec.inspect(exec_id)
    code = doc.get("ExitCode")
    return int(code) if code is not None else 0
