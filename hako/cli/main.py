"""``hako`` entrypoint: global flags, command registry, and THE error → exit-code mapping.

Exit codes follow the docker CLI: 0 success; 1 for errors in general (daemon errors printed
as ``Error response from daemon: <message>``); 125 for flag errors and for daemon errors
of ``run``/``create``; 126/127 when ``run``'s start failed on a non-executable / missing
command; a container's own exit code for ``run`` without ``-d``, ``start -a`` and ``wait``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from hako import errors
from hako.cli.parsing import PROG, UsageError

# command → "module:function" (modules under hako.cli.commands; imported lazily)
COMMANDS: dict[str, str] = {
    "run": "run:run", "create": "run:create", "start": "run:start", "attach": "run:attach",
    "stop": "container:stop", "kill": "container:kill", "restart": "container:restart",
    "rm": "container:rm", "rename": "container:rename", "pause": "container:pause",
    "unpause": "container:unpause", "wait": "container:wait", "top": "container:top",
    "diff": "container:diff", "export": "container:export", "port": "container:port",
    "ps": "ps:ps", "logs": "logs:logs", "exec": "exec:exec_", "cp": "cp:cp",
    "inspect": "inspect:inspect",
    "images": "image:images", "rmi": "image:rmi", "tag": "image:tag",
    "history": "image:history", "import": "image:import_", "save": "image:save",
    "load": "image:load", "pull": "image:pull",
    "commit": "commit:commit", "build": "build:build",
    "registry": "registry:registry", "push": "registry_cmds:push",
    "login": "registry_cmds:login", "logout": "registry_cmds:logout",
    "search": "registry_cmds:search",
    "info": "system:info", "version": "system:version", "events": "system:events",
    "compose": "compose:compose",
}
GROUPS: dict[str, dict[str, str]] = {
    "container": {
        "ls": "ps", "list": "ps", "ps": "ps", "rm": "rm", "remove": "rm",
        "inspect": "container inspect", **{c: c for c in (
            "run", "create", "start", "attach", "stop", "kill", "restart", "rename",
            "pause", "unpause", "wait", "top", "diff", "export", "port", "logs", "exec",
            "commit", "cp")},
    },
    "image": {
        "ls": "images", "list": "images", "rm": "rmi", "remove": "rmi",
        "inspect": "image inspect", "history": "history", "tag": "tag", "save": "save",
        "load": "load", "import": "import", "pull": "pull", "push": "push",
        "prune": "image prune",
        "bootstrap": "image bootstrap", "build": "build",
    },
    "system": {"info": "info", "events": "events", "check": "system check", "df": "system df"},
    "volume": {"create": "volume create", "ls": "volume ls", "list": "volume ls",
               "inspect": "volume inspect", "rm": "volume rm", "remove": "volume rm",
               "prune": "volume prune"},
    "network": {v: "network " + v for v in ("create", "ls", "inspect", "rm", "prune", "connect", "disconnect")}
    | {"list": "network ls", "remove": "network rm"},
}
SPECIAL = {"container inspect": "inspect:container_inspect",
           "image inspect": "inspect:image_inspect", "image prune": "image:prune",
           "image bootstrap": "image:bootstrap", "system check": "system:check",
           "system df": "system:df",
           **{f"volume {v}": f"volume:{v}" for v in ("create", "ls", "inspect", "rm", "prune")},
           **{f"network {v}": f"network:{v}" for v in ("create", "ls", "inspect", "rm", "prune", "connect",
                                                       "disconnect")}}


class Context:
    """What a command needs: the daemon address, an API client (lazy), and stdio."""

    def __init__(self, host: str, environ: Mapping[str, str], stdin: Any = None,
                 stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.host = host
        self.environ = environ
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.command = ""
        self._api = None

    @property
    def api(self):
        if self._api is None:
            from hako.client.api import APIClient

            self._api = APIClient.from_host(self.host, self.environ.get("DOCKER_API_VERSION"))
        return self._api

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")

    def out_bytes(self, data: bytes) -> None:
        self.stdout.flush()
        buf = getattr(self.stdout, "buffer", None)
        if buf is not None:
            buf.write(data)
            buf.flush()
        else:
            self.stdout.write(data.decode("utf-8", "replace"))


class StartFailed(Exception):
    """``run`` could not start the container; ``cause`` is the daemon error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class CliError(Exception):
    """A client-side failure printed as ``Error: <message>`` (exit 1 unless given)."""

    def __init__(self, message: str, status: int = 1, bare: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.bare = bare


def _global_flags(argv: list[str], environ: Mapping[str, str]) -> tuple[str, list[str]]:
    host = environ.get("HAKO_HOST") or environ.get("DOCKER_HOST") or ""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        tok = argv[i]
        name, eq, value = tok.partition("=")
        if name in ("-H", "--host", "--log-level", "-l", "--config", "--context", "-c"):
            if not eq:
                i += 1
                value = argv[i] if i < len(argv) else ""
            if name in ("-H", "--host"):
                host = value
        elif tok.startswith("-H") and len(tok) > 2:
            host = tok[2:]
        elif name in ("-D", "--debug", "--tls", "--tlsverify"):
            pass
        elif name in ("-v", "--version"):
            return host, ["--version"]
        elif name in ("--help", "-h"):
            return host, ["--help"]
        else:
            what = f"unknown flag: {name}" if name.startswith("--") else \
                f"unknown shorthand flag: '{name[1]}' in {name}"
            raise UsageError(f"{what}\n\nUsage:  {PROG} [OPTIONS] COMMAND [ARG...]\n\n"
                             f"Run '{PROG} --help' for more information", 125)
        i += 1
    return host or "unix:///run/hako/hako.sock", argv[i:]


def _resolve(args: list[str]) -> tuple[str, str, list[str]]:
    """argv after global flags → (command name, "module:function", rest)."""
    if not args:
        raise UsageError(_usage(), 0)
    name, rest = args[0], args[1:]
    if name in GROUPS:
        if not rest or rest[0] not in GROUPS[name]:
            sub = rest[0] if rest else ""
            msg = (f"{PROG}: unknown command: {PROG} {name} {sub}\n\n"
                   f"Run '{PROG} {name} --help' for more information")
            raise UsageError(msg if sub else _usage(), 1 if sub else 0)
        name, rest = GROUPS[name][rest[0]], rest[1:]
    if name in SPECIAL:
        return name, SPECIAL[name], rest
    if name not in COMMANDS:
        raise UsageError(f"{PROG}: unknown command: {PROG} {name}\n\n"
                         f"Run '{PROG} --help' for more information", 1)
    return name, COMMANDS[name], rest


def _usage() -> str:
    names = "  ".join(sorted(COMMANDS))
    return (f"Usage:  {PROG} [OPTIONS] COMMAND\n\nA docker-compatible container engine client\n"
            f"\nCommands:\n  {names}\n\nManagement Commands:\n  container  image  network  system")


def exit_status(exc: BaseException, ctx: Context) -> tuple[int, str | None]:
    """THE mapping from an error to (exit code, text for stderr)."""
    from hako.cli.gotemplate import TemplateError, TemplateParseError
    from hako.client.errors import is_daemon_error

    run_like = ctx.command == "run"  # docker create reports daemon errors with status 1
    hint = f"\n\nRun '{PROG} {ctx.command} --help' for more information"
    if isinstance(exc, UsageError):
        return exc.status, str(exc)
    if isinstance(exc, StartFailed):
        text = str(exc.cause)
        if is_daemon_error(exc.cause):
            text = f"Error response from daemon: {text}"
        # docker's own heuristic (cli/command/container/run.go), which matches texts
        if any(s in text for s in ("executable file not found", "no such file or directory",
                                   "system cannot find the file specified")):
            code = 127
        elif "permission denied" in text or "is a directory" in text:
            code = 126
        else:
            code = 125
        return code, f"{PROG}: {text}{hint}"
    if isinstance(exc, CliError):
        return exc.status, (str(exc) if exc.bare else f"Error: {exc}") if str(exc) else None
    if isinstance(exc, TemplateError):
        if isinstance(exc, TemplateParseError):
            return 64, f"template parsing error: {exc}"
        prefix = "template parsing error" if ctx.command == "inspect" else \
            "failed to execute template"
        return 1, f"{prefix}: {exc}"
    if isinstance(exc, errors.Unavailable) and not is_daemon_error(exc):
        return 1, str(exc)
    if isinstance(exc, errors.EngineError):
        text = f"Error response from daemon: {exc}" if is_daemon_error(exc) else str(exc)
        if run_like:
            return 125, f"{PROG}: {text}{hint}"
        return 1, text if is_daemon_error(exc) else f"Error: {text}"
    if isinstance(exc, KeyboardInterrupt):
        return 130, None
    if isinstance(exc, BrokenPipeError):
        return 0, None
    raise exc


def run_cli(argv: Sequence[str], environ: Mapping[str, str] | None = None,
            ctx: Context | None = None) -> int:
    """Run one command line; returns the exit status (never raises for user errors)."""
    environ = os.environ if environ is None else environ
    ctx = ctx or Context("", environ)
    try:
        host, args = _global_flags(list(argv), environ)
        ctx.host = host
        if args == ["--version"]:
            from hako import __version__

            ctx.out(f"hako version {__version__}")
            return 0
        name, target, rest = _resolve(args)
        ctx.command = name.split()[-1] if name.startswith("image ") else name
        module, func = target.split(":")
        fn = getattr(importlib.import_module(f"hako.cli.commands.{module}"), func)
        return int(fn(ctx, rest) or 0)
    except BaseException as exc:  # noqa: BLE001 - mapped to exit codes in one place
        if isinstance(exc, SystemExit):
            raise
        code, text = exit_status(exc, ctx)
        if text:
            try:
                ctx.stdout.flush()
            except (OSError, ValueError):
                pass
            ctx.err(text)
        return code


def main() -> None:
    """Console-script entry point."""
    code = run_cli(sys.argv[1:])
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    sys.exit(code)
