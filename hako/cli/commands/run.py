"""``run``, ``create``, ``start`` and ``attach``: containers with attached stdio."""

from __future__ import annotations

import os
import signal
from typing import Any

from hako import errors
from hako.cli.main import CliError, StartFailed
from hako.cli.parsing import Parser, UsageError
from hako.cli.runconfig import add_run_flags, build_create_body, version_errors
from hako.cli.stdio import RawTerminal, pump

PROXY_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def _tagged(ref: str) -> str:
    """The reference as docker prints it in "Unable to find image 'x:latest' locally"."""
    if "@" in ref or ":" in ref.rsplit("/", 1)[-1]:
        return ref
    return ref + ":latest"


def _pull(ctx: Any, image: str, platform: str | None, quiet: bool) -> None:
    from hako.cli.progress import render_progress

    ref = _tagged(image)
    name, _, tag = ref.rpartition(":") if "@" not in ref else (ref, "", "")
    resp = ctx.api.images.create({"fromImage": name, "tag": tag or None,
                                  "platform": platform})
    render_progress(resp.iter_chunks(), ctx.stderr if quiet else ctx.stdout, quiet=quiet)


def create_container(ctx: Any, body: dict, opts: Any) -> str:
    """POST /containers/create, pulling the image first when missing (``--pull``).

    Returns:
        The new container's id.
    """
    image = body["Image"]
    if opts.pull == "always":
        _pull(ctx, image, opts.platform, opts.quiet)
    try:
        doc = ctx.api.containers.create(body, opts.name, opts.platform)
    except errors.ImageNotFound:
        if opts.pull == "never":
            raise
        ctx.err(f"Unable to find image '{_tagged(image)}' locally")
        _pull(ctx, image, opts.platform, opts.quiet)
        doc = ctx.api.containers.create(body, opts.name, opts.platform)
    for warning in doc.get("Warnings") or []:
        ctx.err(f"WARNING: {warning}")
    return doc["Id"]


def _parse_run(ctx: Any, command: str, argv: list[str]) -> tuple[Any, str, list[str]]:
    p = Parser(command, "[OPTIONS] IMAGE [COMMAND] [ARG...]", interspersed=False)
    add_run_flags(p)
    if command == "run":
        p.flag("-d", "--detach")
        p.option("--detach-keys")
        p.flag("--sig-proxy", default=True)
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    if command == "create":
        opts.detach, opts.detach_keys, opts.sig_proxy = True, None, False
    if opts.detach and opts.attach and command == "run":
        raise UsageError("conflicting options: cannot specify both --attach and --detach", 1)
    too_new = version_errors(opts, lambda: ctx.api.version)  # after the argument count, as cobra
    if too_new:
        raise CliError(too_new, bare=True)
    return opts, args[0], args[1:]


def create(ctx: Any, argv: list[str]) -> int:
    """hako create [OPTIONS] IMAGE [COMMAND] [ARG...]"""
    opts, image, cmd = _parse_run(ctx, "create", argv)
    body = build_create_body(opts, image, cmd, ctx.environ, detach=False)
    ctx.out(create_container(ctx, body, opts))
    return 0


def run(ctx: Any, argv: list[str]) -> int:
    """hako run [OPTIONS] IMAGE [COMMAND] [ARG...]"""
    opts, image, cmd = _parse_run(ctx, "run", argv)
    stdin_fd = _stdin_fd(ctx)
    _check_tty(ctx, opts.interactive, opts.tty)
    body = build_create_body(opts, image, cmd, ctx.environ, detach=opts.detach)
    cid = create_container(ctx, body, opts)
    if opts.detach:
        try:
            ctx.api.containers.start(cid)
        except errors.EngineError as exc:
            raise StartFailed(exc) from exc
        ctx.out(cid)
        return 0
    waiter = ctx.api.containers.wait_request(cid, "removed" if opts.rm else "next-exit")
    want = (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"])
    hijacked = ctx.api.containers.attach(cid, *want, detach_keys=opts.detach_keys) \
        if any(want) else None
    try:
        ctx.api.containers.start(cid)
    except errors.EngineError as exc:
        if hijacked is not None:
            hijacked.close()
        raise StartFailed(exc) from exc
    return _stream_and_wait(ctx, cid, hijacked, waiter, opts.tty,
                            stdin_fd if want[0] else None, opts.sig_proxy and not opts.tty)


def _check_tty(ctx: Any, stdin: bool, tty: bool) -> None:
    """docker's CheckTty: attaching stdin to a TTY container needs a local terminal."""
    fd = _stdin_fd(ctx)
    if stdin and tty and not (fd is not None and os.isatty(fd)):
        raise CliError("the input device is not a TTY", bare=True)


def _stdin_fd(ctx: Any) -> int | None:
    try:
        return ctx.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _stream_and_wait(ctx: Any, cid: str, hijacked: Any, waiter: Any, tty: bool,
                     stdin_fd: int | None, sig_proxy: bool, detach_error: bool = False) -> int:
    """Pump the attached streams, then report the exit code (0 when detached; ``attach``
    reports a detach as docker's "read escape sequence" error, status 1)."""
    ctx.stdout.flush()
    containers = ctx.api.containers
    restore = _proxy_signals(ctx, cid) if sig_proxy else {}
    try:
        if hijacked is not None:
            raw_fd = stdin_fd if stdin_fd is not None else 0
            with RawTerminal(raw_fd, tty and stdin_fd is not None,
                             lambda h, w: containers.resize(cid, h, w) if tty else None) as term:
                if tty:
                    term.resize()
                pump(hijacked, stdin_fd, ctx.stdout.fileno(), ctx.stderr.fileno(), tty)
            # detach keys come on stdin: without it the stream ends only with the output
            # (on a busy host the exit can be recorded more than the grace later)
            if stdin_fd is not None and _detached(ctx, cid, waiter):
                waiter.close()
                if detach_error:
                    raise CliError("read escape sequence", bare=True)
                return 0
        return _wait_status(waiter)
    finally:
        for signum, handler in restore.items():
            signal.signal(signum, handler)


def _wait_status(waiter: Any) -> int:
    doc = waiter.json() or {}
    err = (doc.get("Error") or {}).get("Message")
    if err:
        raise CliError(err, 125)
    return int(doc.get("StatusCode", 0))


def _detached(ctx: Any, cid: str, waiter: Any, grace: float = 0.5) -> bool:
    """After the stream closed: True when the container keeps running (we detached).

    The wait response's body arrives when the container exits; if it does not arrive
    within ``grace`` while the container is running, the user detached.
    """
    try:
        state = ctx.api.containers.inspect(cid).get("State") or {}
    except errors.NotFound:
        return False
    if not state.get("Running"):
        return False
    return not waiter.wait_readable(grace)


def _proxy_signals(ctx: Any, cid: str) -> dict[int, Any]:
    saved = {}

    def forward(signum, _frame):
        try:
            ctx.api.containers.kill(cid, signal.Signals(signum).name)
        except errors.EngineError:
            pass

    for name in PROXY_SIGNALS:
        signum = getattr(signal, name)
        try:
            saved[signum] = signal.signal(signum, forward)
        except ValueError:  # not the main thread
            break
    return saved


def start(ctx: Any, argv: list[str]) -> int:
    """hako start [OPTIONS] CONTAINER [CONTAINER...]"""
    p = Parser("start", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.flag("-a", "--attach")
    p.flag("-i", "--interactive")
    p.option("--detach-keys")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    if opts.attach or opts.interactive:
        if len(args) > 1:
            raise CliError("you cannot start and attach multiple containers at once")
        return _start_attached(ctx, args[0], opts)
    from hako.client.errors import is_daemon_error

    failed = []
    for ref in args:
        try:
            ctx.api.containers.start(ref)
        except errors.EngineError as exc:
            failed.append(ref)
            ctx.err(f"Error response from daemon: {exc}" if is_daemon_error(exc) else str(exc))
            continue
        ctx.out(ref)
    if failed:
        raise CliError("failed to start containers: " + ", ".join(failed))
    return 0


def _start_attached(ctx: Any, ref: str, opts: Any) -> int:
    info = ctx.api.containers.inspect(ref)
    cid, cfg = info["Id"], info.get("Config") or {}
    tty = bool(cfg.get("Tty"))
    stdin = bool(opts.interactive and cfg.get("OpenStdin"))
    _check_tty(ctx, stdin, tty)
    waiter = ctx.api.containers.wait_request(cid, "next-exit")
    hijacked = ctx.api.containers.attach(cid, stdin, True, True, detach_keys=opts.detach_keys)
    try:
        ctx.api.containers.start(cid, opts.detach_keys)
    except errors.EngineError:
        hijacked.close()
        waiter.close()
        raise
    return _stream_and_wait(ctx, cid, hijacked, waiter, tty,
                            _stdin_fd(ctx) if stdin else None, not tty)


def attach(ctx: Any, argv: list[str]) -> int:
    """hako attach [OPTIONS] CONTAINER"""
    p = Parser("attach", "[OPTIONS] CONTAINER")
    p.flag("--no-stdin")
    p.flag("--sig-proxy", default=True)
    p.option("--detach-keys")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    info = ctx.api.containers.inspect(args[0])
    state, cfg = info.get("State") or {}, info.get("Config") or {}
    if not state.get("Running"):
        raise CliError("You cannot attach to a stopped container, start it first", bare=True)
    if state.get("Paused"):
        raise CliError("You cannot attach to a paused container, unpause it first", bare=True)
    cid, tty = info["Id"], bool(cfg.get("Tty"))
    stdin = bool(cfg.get("OpenStdin")) and not opts.no_stdin
    _check_tty(ctx, stdin, tty)
    waiter = ctx.api.containers.wait_request(cid, "next-exit")
    hijacked = ctx.api.containers.attach(cid, stdin, True, True, detach_keys=opts.detach_keys)
    return _stream_and_wait(ctx, cid, hijacked, waiter, tty,
                            _stdin_fd(ctx) if stdin else None, opts.sig_proxy and not tty,
                            detach_error=True)
