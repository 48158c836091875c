"""``hako compose`` verbs that change the project: up, down, create, start, stop, restart,
kill, rm, pause, unpause, build, pull, push, scale."""

from __future__ import annotations

import os
import threading
from typing import Any

from hako.cli.commands.compose import load, warner
from hako.cli.commands.compose_view import LogPrinter, Progress, short_name, stream_logs, use_color
from hako.cli.parsing import Parser, UsageError, go_int


def service(ctx: Any, project: Any):
    from hako.compose.project import ComposeService

    g = ctx.compose
    return ComposeService(ctx.api, project, progress(ctx), builder=builder(ctx, project),
                          warn=warner(ctx), limit=g.parallel_limit)


def progress(ctx: Any):
    """The progress sink ``--progress`` asks for: compose's live display on a TTY (or with
    ``tty``), plain lines otherwise (or with ``plain``), nothing when ``quiet``."""
    mode = ctx.compose.progress
    if mode == "quiet":
        return lambda kind, name, status: None
    if mode == "tty" or (mode == "auto" and _isatty(ctx.stderr)):
        from hako.cli.commands.compose_view import TtyProgress

        return TtyProgress(ctx.stderr)
    return Progress(ctx.stderr)


def quiet_pulls(cs: Any) -> None:
    """``--quiet-pull``: no progress lines for image pulls."""
    report = cs.report
    cs.report = lambda kind, name, status: None if kind == "Image" else \
        report(kind, name, status)


def _isatty(stream: Any) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def builder(ctx: Any, project: Any):
    """Build a service's image with ``hako build`` (the CLI owns context tarring)."""
    def build(svc: Any, image: str, no_cache: bool = False, pull: bool = False) -> None:
        from hako.cli.commands.build import build as build_cmd

        b = svc.get("build") or {}
        ctx_dir = b.get("context", project.working_dir)
        argv = ["-t", image, "-q"]
        if b.get("dockerfile"):
            argv += ["-f", os.path.join(ctx_dir, b["dockerfile"])]
        for k, v in (b.get("args") or {}).items():
            argv += ["--build-arg", f"{k}={v}" if v is not None else k]
        for k, v in (b.get("labels") or {}).items() if isinstance(b.get("labels"), dict) \
                else ((i.partition("=")[0], i.partition("=")[2]) for i in b.get("labels") or []):
            argv += ["--label", f"{k}={v}"]
        for key, flag in (("target", "--target"), ("network", "--network")):
            if b.get(key):
                argv += [flag, b[key]]
        for cf in b.get("cache_from") or []:
            argv += ["--cache-from", cf]
        for extra in b.get("tags") or []:
            argv += ["-t", extra]
        if no_cache or b.get("no_cache") in (True, "true"):
            argv.append("--no-cache")
        if pull or b.get("pull") in (True, "true"):
            argv.append("--pull")
        refused = set(b) - {"context", "dockerfile", "args", "labels", "target", "network",
                            "cache_from", "tags", "no_cache", "pull"}
        if refused:
            raise UsageError(f"services.{svc.name}.build.{sorted(refused)[0]} is not "
                             "supported by hako compose", 1)

        class _Sink:
            def write(self, s: str) -> int:
                return len(s)

            def flush(self) -> None:
                pass

        old = ctx.stdout
        ctx.stdout = _Sink()  # -q prints the image id; compose does not
        try:
            build_cmd(ctx, argv + [ctx_dir])
        finally:
            ctx.stdout = old
    return build


def _timeout(p: Parser) -> None:
    p.option("-t", "--timeout", type=go_int)


def up(ctx: Any, argv: list[str]) -> int:
    """hako compose up [OPTIONS] [SERVICE...]"""
    from hako.compose.project import UpOptions

    p = Parser("compose up", "[OPTIONS] [SERVICE...]")
    for f in ("-d", "--detach"), ("--build",), ("--no-build",), ("--force-recreate",), \
            ("--no-recreate",), ("--remove-orphans",), ("--no-deps",), ("--wait",), \
            ("--abort-on-container-exit",), ("--no-start",), ("--no-color",), \
            ("--no-log-prefix",), ("--quiet-pull",), ("-V", "--renew-anon-volumes"), \
            ("--always-recreate-deps",), ("--timestamps",):
        p.flag(*f)
    p.multi("--scale")
    p.option("--exit-code-from")
    p.option("--pull", default="missing")
    p.option("--wait-timeout", type=go_int, default=0)
    p.multi("--attach")
    p.multi("--no-attach")
    _timeout(p)
    opts, names = p.parse(argv, ctx.stderr)
    for bad in ("renew_anon_volumes", "always_recreate_deps"):
        if getattr(opts, bad):
            raise UsageError(f"--{bad.replace('_', '-')} is not supported by hako compose", 1)
    if opts.force_recreate and opts.no_recreate:
        raise UsageError("--force-recreate and --no-recreate are incompatible", 1)
    if opts.detach and (opts.abort_on_container_exit or opts.exit_code_from):
        raise UsageError("--abort-on-container-exit and -d cannot be combined.", 1)
    if opts.exit_code_from:
        opts.abort_on_container_exit = True
    scale = {}
    for item in opts.scale:
        svc, eq, n = item.partition("=")
        if not eq or not n.isdigit():
            raise UsageError(f"invalid --scale value {item!r}: SERVICE=NUM", 1)
        scale[svc] = int(n)
    project = load(ctx, names + list(scale))
    for n in scale:
        project.service(n)
    if opts.exit_code_from:
        project.service(opts.exit_code_from)
    cs = service(ctx, project)
    if opts.quiet_pull:
        quiet_pulls(cs)
    detach = opts.detach or opts.wait
    cs.up(UpOptions(services=names, no_deps=opts.no_deps, build=opts.build,
                    no_build=opts.no_build, pull=opts.pull, force_recreate=opts.force_recreate,
                    no_recreate=opts.no_recreate, remove_orphans=opts.remove_orphans,
                    scale=scale, no_start=opts.no_start, wait=opts.wait,
                    wait_timeout=opts.wait_timeout, timeout=opts.timeout))
    if detach or opts.no_start:
        return 0
    return attached(ctx, cs, names, opts)


def attached(ctx: Any, cs: Any, names: list[str], opts: Any) -> int:
    """Follow the logs of the project's containers until they exit (or Ctrl-C)."""
    from hako.compose.lifecycle import stop

    wanted = names or list(cs.project.services)
    if opts.attach:
        wanted = [n for n in wanted if n in opts.attach]
    wanted = [n for n in wanted if n not in opts.no_attach and (
        n in opts.attach or cs.project.services[n].get("attach", True))]
    containers = [c for n in wanted for c in cs.containers(n)]
    labels = {c["Id"]: short_name(c, cs.project.name) for c in containers}
    printer = LogPrinter(ctx.stdout, list(labels.values()),
                         use_color(ctx) and not opts.no_color, not opts.no_log_prefix)
    ended: list[str] = []
    cond = threading.Condition()

    def follow(cid: str) -> None:
        stream_logs(ctx.api, cid, labels[cid], printer, True, timestamps=opts.timestamps)
        with cond:
            ended.append(cid)
            cond.notify_all()

    threads = [threading.Thread(target=follow, args=(c,), daemon=True) for c in labels]
    for t in threads:
        t.start()
    _interrupt_on_sigterm()
    exit_code, first = 0, None
    reported: set[str] = set()
    try:
        while labels:
            with cond:
                cond.wait_for(lambda: len(ended) > len(reported), timeout=0.5)
                new = [c for c in ended if c not in reported]
                all_done = len(ended) == len(labels)
            for cid in new:
                reported.add(cid)
                first = first or cid
                printer.note(labels[cid], f"exited with code {_exit_code(ctx, cid)}")
            if opts.abort_on_container_exit and first is not None:
                ctx.stderr.write("Aborting on container exit...\n")
                stop(cs, [], opts.timeout)
                break
            if all_done:
                break
    except KeyboardInterrupt:
        ctx.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n")
        stop(cs, [], opts.timeout)
        return 130
    for t in threads:
        t.join(5)
    if opts.exit_code_from:
        picks = cs.containers(opts.exit_code_from)
        if picks:
            exit_code = _exit_code(ctx, picks[0]["Id"])
    elif opts.abort_on_container_exit and first is not None:
        exit_code = _exit_code(ctx, first)
    return exit_code


def _interrupt_on_sigterm() -> None:
    """SIGTERM (and SIGINT, even when the shell started us with it ignored) stops the
    project's containers as Ctrl-C does."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)


def _exit_code(ctx: Any, cid: str) -> int:
    from hako import errors

    try:
        state = ctx.api.containers.inspect(cid).get("State") or {}
    except errors.NotFound:
        return 0
    return int(state.get("ExitCode") or 0)


def down(ctx: Any, argv: list[str]) -> int:
    """hako compose down [-v] [--rmi all|local] [--remove-orphans] [-t N]"""
    from hako.compose.errors import ComposeError
    from hako.compose.lifecycle import DownOptions, down as do_down

    p = Parser("compose down", "[OPTIONS] [SERVICES]")
    p.flag("-v", "--volumes")
    p.option("--rmi", default="")
    p.flag("--remove-orphans")
    _timeout(p)
    opts, names = p.parse(argv, ctx.stderr)
    if names:
        raise UsageError("hako compose down takes no service names", 1)
    try:
        project = load(ctx)
    except ComposeError:
        if not ctx.compose.project_name:
            raise
        from hako.compose.model import Project

        project = Project(ctx.compose.project_name, os.getcwd(), [], {})
    do_down(service(ctx, project), DownOptions(opts.volumes, opts.rmi, opts.remove_orphans,
                                               opts.timeout))
    return 0


def create(ctx: Any, argv: list[str]) -> int:
    """hako compose create [OPTIONS] [SERVICE...]"""
    return up(ctx, ["--no-start", *argv])


def _names_verb(ctx: Any, argv: list[str], verb: str, timeout: bool = False,
                extra: tuple = ()) -> tuple[Any, Any, list[str]]:
    p = Parser(f"compose {verb}", "[OPTIONS] [SERVICE...]")
    if timeout:
        _timeout(p)
    for e in extra:
        e(p)
    opts, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    return service(ctx, project), opts, names


def start(ctx: Any, argv: list[str]) -> int:
    from hako.compose.lifecycle import start as do

    cs, _, names = _names_verb(ctx, argv, "start")
    do(cs, names)
    return 0


def stop(ctx: Any, argv: list[str]) -> int:
    from hako.compose.lifecycle import stop as do

    cs, opts, names = _names_verb(ctx, argv, "stop", timeout=True)
    do(cs, names, opts.timeout)
    return 0


def restart(ctx: Any, argv: list[str]) -> int:
    from hako.compose.lifecycle import restart as do

    cs, opts, names = _names_verb(ctx, argv, "restart", timeout=True)
    do(cs, names, opts.timeout)
    return 0


def kill(ctx: Any, argv: list[str]) -> int:
    from hako.compose.lifecycle import simple

    cs, opts, names = _names_verb(ctx, argv, "kill", extra=(
        lambda p: p.option("-s", "--signal", default="SIGKILL"),))
    simple(cs, names, "kill", "Killing", "Killed", ("running", "restarting", "paused"),
           signal=opts.signal)
    return 0


def pause(ctx: Any, argv: list[str]) -> int:
    from hako.compose.lifecycle import simple

    cs, _, names = _names_verb(ctx, argv, "pause")
    simple(cs, names, "pause", "Pausing", "Paused", ("running",))
    return 0


def unpause(ctx: Any, argv: list[str]) -> int:
    from hako.compose.lifecycle import simple

    cs, _, names = _names_verb(ctx, argv, "unpause")
    simple(cs, names, "unpause", "Unpausing", "Unpaused", ("paused",))
    return 0


def rm(ctx: Any, argv: list[str]) -> int:
    """hako compose rm [-f] [-s] [-v] [SERVICE...]"""
    from hako.compose.lifecycle import remove

    cs, opts, names = _names_verb(ctx, argv, "rm", extra=(
        lambda p: p.flag("-f", "--force"), lambda p: p.flag("-s", "--stop"),
        lambda p: p.flag("-v", "--volumes")))

    def confirm(found: list[str]) -> bool:
        if opts.force:
            return True
        ctx.stdout.write(f"Going to remove {', '.join(found)}\n? Are you sure? [yN] ")
        ctx.stdout.flush()
        return ctx.stdin.readline().strip().lower() in ("y", "yes")

    if not remove(cs, names, opts.stop, opts.volumes, confirm):
        ctx.err("No stopped containers")
    return 0


def build(ctx: Any, argv: list[str]) -> int:
    """hako compose build [--no-cache] [--pull] [SERVICE...]"""
    from hako.compose import convert

    p = Parser("compose build", "[OPTIONS] [SERVICE...]")
    p.flag("--no-cache")
    p.flag("--pull")
    p.flag("-q", "--quiet")
    p.multi("--build-arg")
    opts, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    make = builder(ctx, project)
    report = progress(ctx)
    for n in names or list(project.services):
        svc = project.service(n)
        if not svc.get("build"):
            continue
        for arg in opts.build_arg:
            k, eq, v = arg.partition("=")
            svc.spec["build"] = {**svc.spec["build"], "args": {
                **(svc.spec["build"].get("args") or {}), k: v if eq else ctx.environ.get(k)}}
        report("Service", n, "Building")
        make(svc, convert.image_name(project, svc), opts.no_cache, opts.pull)
        report("Service", n, "Built")
    return 0


def pull(ctx: Any, argv: list[str]) -> int:
    """hako compose pull [--ignore-buildable] [--ignore-pull-failures] [--include-deps] [-q]
    [SERVICE...]"""
    from hako import errors
    from hako.compose import graph

    p = Parser("compose pull", "[OPTIONS] [SERVICE...]")
    p.flag("-q", "--quiet")
    p.flag("--ignore-buildable")
    p.flag("--ignore-pull-failures")
    p.flag("--include-deps")
    opts, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    if names and opts.include_deps:
        names = graph.with_dependencies(project, names)
    cs = service(ctx, project)
    if opts.quiet:
        cs.report = lambda kind, name, status: None
    refs = sorted({s.get("image") for n, s in project.services.items()
                   if (not names or n in names) and s.get("image")
                   and not (opts.ignore_buildable and s.get("build"))})

    def one(ref: str) -> None:
        try:
            cs.pull_image(ref)
        except errors.EngineError as exc:
            if not opts.ignore_pull_failures:
                raise
            ctx.err(f"WARN[0000] {ref}: {exc}")

    cs.all(refs, one)
    return 0


def push(ctx: Any, argv: list[str]) -> int:
    """hako compose push [SERVICE...]: push the images of services that have one."""
    from hako.cli.commands.registry_cmds import push as push_cmd

    p = Parser("compose push", "[OPTIONS] [SERVICE...]")
    p.flag("-q", "--quiet")
    p.flag("--ignore-push-failures")
    opts, names = p.parse(argv, ctx.stderr)
    project = load(ctx, names)
    status = 0
    for n, s in project.services.items():
        if (names and n not in names) or not s.get("image"):
            continue
        code = push_cmd(ctx, ["-q", s.get("image")])
        if code and not opts.ignore_push_failures:
            return code
        status = status or code
    return status


def scale(ctx: Any, argv: list[str]) -> int:
    """hako compose scale SERVICE=NUM...: up -d --no-recreate with these counts."""
    return up(ctx, ["-d", "--no-recreate", *[f"--scale={a}" for a in argv],
                    *[a.partition("=")[0] for a in argv]])
