"""``hako compose``: compose v2's command line (``docker compose``) on hako.compose.

Global flags (``-f``, ``-p``, ``--project-directory``, ``--env-file``, ``--profile``,
``--progress``, ``--ansi``) come before the verb; each verb is one function here or in
:mod:`hako.cli.commands.compose_verbs` / :mod:`hako.cli.commands.compose_ops`. Compose errors
are printed bare (as compose prints them), with status 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hako.cli.parsing import PROG, Parser, UsageError

VERBS: dict[str, str] = {
    "config": "compose:config", "convert": "compose:config", "ls": "compose:ls",
    "version": "compose:version",
    **{v: f"compose_ops:{v}" for v in ("up", "down", "create", "start", "stop", "restart",
                                        "kill", "rm", "pause", "unpause", "build", "pull",
                                        "push", "scale")},
    **{v: f"compose_verbs:{v}" for v in ("ps", "logs", "top", "port", "images", "events",
                                          "exec", "run", "cp")},
}
_VALUE_FLAGS = {"-f": "file", "--file": "file", "-p": "project_name",
                "--project-name": "project_name", "--project-directory": "project_directory",
                "--env-file": "env_file", "--profile": "profile", "--progress": "progress",
                "--ansi": "ansi", "--parallel": "parallel"}


class Globals:
    """The compose-level flags and what they select."""

    def __init__(self) -> None:
        self.file: list[str] = []
        self.project_name = ""
        self.project_directory = ""
        self.env_file: list[str] = []
        self.profile: list[str] = []
        self.progress = "auto"
        self.ansi = "auto"
        self.parallel = "-1"

    @property
    def parallel_limit(self) -> int:
        return int(self.parallel)

    def check(self) -> None:
        """Refuse values compose does not know (or that hako compose does not render)."""
        if self.progress not in ("auto", "tty", "plain", "quiet"):
            raise UsageError(f"unsupported --progress value {self.progress!r}"
                             + (" (json is not supported by hako compose)"
                                if self.progress == "json" else ""), 1)
        if self.ansi not in ("auto", "never", "always"):
            raise UsageError(f"unsupported --ansi value {self.ansi!r}", 1)
        try:
            int(self.parallel)
        except ValueError:
            raise UsageError(f'invalid argument "{self.parallel}" for "--parallel" flag: '
                             f'strconv.ParseInt: parsing "{self.parallel}": invalid syntax',
                             1) from None


def _parse_globals(argv: list[str]) -> tuple[Globals, list[str]]:
    g = Globals()
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name in ("-h", "--help"):
            raise UsageError(_usage(), 0)
        if name in ("--verbose", "--compatibility"):
            if name == "--compatibility":
                raise UsageError("--compatibility is not supported by hako compose", 1)
            i += 1
            continue
        if name == "--dry-run":
            raise UsageError("--dry-run is not supported by hako compose", 1)
        dest = _VALUE_FLAGS.get(name)
        if dest is None and len(name) > 2 and name[:2] in ("-f", "-p") and not eq:
            dest, value, eq = _VALUE_FLAGS[name[:2]], name[2:], "="
        if dest is None:
            raise UsageError(f"unknown flag: {name}" if name.startswith("--") else
                             f"unknown shorthand flag: '{name[1]}' in {name}", 1)
        if not eq:
            i += 1
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: {name}", 1)
            value = argv[i]
        current = getattr(g, dest)
        if isinstance(current, list):
            current.append(value)
        else:
            setattr(g, dest, value)
        i += 1
    return g, argv[i:]


def _usage() -> str:
    return (f"Usage:  {PROG} compose [OPTIONS] COMMAND\n\nDefine and run multi-container "
            f"applications with hako\n\nCommands:\n  " + "  ".join(sorted(VERBS)))


def compose(ctx: Any, argv: list[str]) -> int:
    """hako compose [-f FILE]... [-p NAME] [--project-directory DIR] [--env-file F] COMMAND"""
    import importlib

    from hako.compose.errors import ComposeError

    g, rest = _parse_globals(list(argv))
    g.check()
    if not rest:
        raise UsageError(_usage(), 0)
    verb, args = rest[0], rest[1:]
    if verb not in VERBS:
        raise UsageError(f"{PROG}: unknown command: {PROG} compose {verb}\n\n"
                         f"Run '{PROG} compose --help' for more information", 1)
    ctx.command = f"compose {verb}"
    ctx.compose = g
    module, func = VERBS[verb].split(":")
    fn = getattr(importlib.import_module(f"hako.cli.commands.{module}"), func)
    try:
        return int(fn(ctx, args) or 0)
    except ComposeError as exc:
        from hako.cli.main import CliError

        raise CliError(str(exc), bare=True) from None


def options(ctx: Any, **kw: Any):
    """The loader options for this invocation."""
    from hako.compose.loader import Options

    g: Globals = ctx.compose
    return Options(files=g.file, project_name=g.project_name,
                   project_directory=g.project_directory, env_files=g.env_file,
                   profiles=g.profile, environ=dict(ctx.environ), cwd=os.getcwd(),
                   warn=warner(ctx), **kw)


def warner(ctx: Any) -> Callable[[str], None]:
    def warn(msg: str) -> None:
        ctx.err(f"WARN[0000] {msg}")
    return warn


def load(ctx: Any, wanted: list[str] | None = None, **kw: Any):
    """Load the project named by the global flags (services in ``wanted`` are enabled)."""
    from hako.compose.loader import load_project

    return load_project(options(ctx, **kw), wanted=wanted)


def config(ctx: Any, argv: list[str]) -> int:
    """hako compose config [--services|--volumes|--profiles|--images] [-q] [--format F]"""
    import json

    p = Parser("compose config", "[OPTIONS] [SERVICE...]")
    for name in ("--services", "--volumes", "--profiles", "--images", "--no-interpolate",
                 "--no-normalize", "--no-path-resolution", "--resolve-image-digests"):
        p.flag(name)
    p.flag("-q", "--quiet")
    p.option("--format", default="yaml")
    p.option("--hash")
    p.option("-o", "--output")
    opts, names = p.parse(argv, ctx.stderr)
    for unsupported in ("no_normalize", "no_path_resolution", "resolve_image_digests"):
        if getattr(opts, unsupported):
            raise UsageError(f"--{unsupported.replace('_', '-')} is not supported by hako "
                             "compose", 1)
    if opts.format not in ("yaml", "json"):
        raise UsageError(f"unsupported format {opts.format!r}", 1)
    from hako.compose.loader import load_project

    project = load_project(options(ctx, interpolate=not opts.no_interpolate), wanted=names)
    if names:
        for n in names:
            project.service(n)
        project.services = {n: s for n, s in project.services.items() if n in names}
    if opts.quiet:
        return 0
    if opts.services:
        text = "".join(n + "\n" for n in sorted(project.services))
    elif opts.volumes:
        text = "".join(n + "\n" for n in sorted(project.volumes))
    elif opts.profiles:
        profs = {pr for s in [*project.services.values(), *project.disabled.values()]
                 for pr in s.get("profiles") or []}
        text = "".join(n + "\n" for n in sorted(profs))
    elif opts.images:
        from hako.compose.convert import image_name

        text = "".join(image_name(project, s) + "\n" for s in project.services.values())
    elif opts.hash:
        from hako.compose.convert import config_hash

        want = None if opts.hash == "*" else opts.hash.split(",")
        text = "".join(f"{n} {config_hash(s)}\n" for n, s in project.services.items()
                       if want is None or n in want)
    else:
        doc = project.to_dict()
        doc["services"] = {n: dict(sorted(s.items())) for n, s in doc["services"].items()}
        if opts.format == "json":
            text = json.dumps(doc, indent=4) + "\n"
        else:
            import yaml

            text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False,
                                  allow_unicode=True, width=1 << 16)
    if opts.output:
        with open(opts.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        ctx.stdout.write(text)
    return 0


def version(ctx: Any, argv: list[str]) -> int:
    """hako compose version [--short] [-f FORMAT]"""
    from hako import __version__

    p = Parser("compose version", "[OPTIONS]")
    p.flag("--short")
    p.option("-f", "--format", default="pretty")
    opts, _ = p.parse(argv, ctx.stderr)
    if opts.short:
        ctx.out(__version__)
    elif opts.format == "json":
        ctx.out('{"version":"%s"}' % __version__)
    else:
        ctx.out(f"hako compose version v{__version__}")
    return 0


def ls(ctx: Any, argv: list[str]) -> int:
    """hako compose ls [-a] [-q] [--format table|json] [--filter name=X]"""
    import json

    from hako.compose import labels as L

    p = Parser("compose ls", "[OPTIONS]")
    p.flag("-a", "--all")
    p.flag("-q", "--quiet")
    p.option("--format", default="table")
    p.multi("--filter")
    opts, _ = p.parse(argv, ctx.stderr)
    for f in opts.filter:
        if not f.startswith("name="):
            raise UsageError(f"invalid filter {f!r}: hako compose ls filters by name only", 1)
    if opts.format not in ("table", "json"):
        raise UsageError(f"unsupported --format {opts.format!r}: table or json", 1)
    containers = ctx.api.containers.list(all=True, filters={"label": [L.PROJECT]})
    projects: dict[str, dict[str, Any]] = {}
    for c in containers:
        lab = c.get("Labels") or {}
        proj = projects.setdefault(lab[L.PROJECT], {"states": {}, "files": set()})
        proj["states"][c.get("State", "")] = proj["states"].get(c.get("State", ""), 0) + 1
        if lab.get(L.CONFIG_FILES):
            proj["files"].add(lab[L.CONFIG_FILES])
    names = [f.partition("=")[2] for f in opts.filter if f.startswith("name=")]
    rows = []
    for name in sorted(projects):
        info = projects[name]
        if names and name not in names:
            continue
        if not opts.all and "running" not in info["states"]:
            continue
        status = ", ".join(f"{s}({n})" for s, n in sorted(info["states"].items()))
        rows.append({"Name": name, "Status": status, "ConfigFiles": ",".join(sorted(info["files"]))})
    if opts.quiet:
        for r in rows:
            ctx.out(r["Name"])
    elif opts.format == "json":
        ctx.out(json.dumps(rows))
    else:
        from hako.cli.commands.compose_view import table

        ctx.stdout.write(table(["NAME", "STATUS", "CONFIG FILES"],
                               [[r["Name"], r["Status"], r["ConfigFiles"]] for r in rows]))
    return 0
