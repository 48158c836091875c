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
from hako.cli.parsing import PROG, HelpShown, UsageError

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
    "stats": "stats:stats", "update": "update:update", "completion": "completion:completion",
    "compose": "compose:compose", "generate": "generate:generate",
}
GROUPS: dict[str, dict[str, str]] = {
    "container": {
        "ls": "ps", "list": "ps", "ps": "ps", "rm": "rm", "remove": "rm",
        "inspect": "container inspect", **{c: c for c in (
            "run", "create", "start", "attach", "stop", "kill", "restart", "rename",
            "pause", "unpause", "wait", "top", "diff", "export", "port", "logs", "exec",
            "commit", "cp", "stats", "update")},
        "prune": "container prune",
    },
    "image": {
        "ls": "images", "list": "images", "rm": "rmi", "remove": "rmi",
        "inspect": "image inspect", "history": "history", "tag": "tag", "save": "save",
        "load": "load", "import": "import", "pull": "pull", "push": "push",
        "prune": "image prune",
        "bootstrap": "image bootstrap", "build": "build",
    },
    "system": {"info": "info", "events": "events", "check": "system check", "df": "system df",
               "prune": "system prune"},
    "builder": {"build": "build", "prune": "builder prune"},
    "context": {v: "context " + v for v in ("create", "use", "ls", "inspect", "rm", "show",
                                            "update")} | {"list": "context ls",
                                                          "remove": "context rm"},
    "volume": {"create": "volume create", "ls": "volume ls", "list": "volume ls",
               "inspect": "volume inspect", "rm": "volume rm", "remove": "volume rm",
               "prune": "volume prune"},
    "network": {v: "network " + v for v in ("create", "ls", "inspect", "rm", "prune", "connect", "disconnect")}
    | {"list": "network ls", "remove": "network rm"},
}
MANAGEMENT_COMMANDS = {"compose"}  # listed with the groups in the root help, as docker's plugins
HIDDEN_ALIASES = {"list", "remove", "ps"}  # spellings docker accepts but does not list
SPECIAL = {"container inspect": "inspect:container_inspect",
           "image inspect": "inspect:image_inspect", "image prune": "image:prune",
           "image bootstrap": "image:bootstrap", "system check": "system:check",
           "system df": "df:df", "system prune": "prune:system_prune",
           "container prune": "prune:container_prune", "builder prune": "prune:builder_prune",
           **{f"context {v}": f"context:{v}" for v in ("create", "use", "ls", "inspect", "rm",
                                                       "show", "update")},
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
        self.invoked = ""  # the command path as typed ("container ls")
        self.tls = None  # endpoint.TLSConfig when the endpoint uses TLS
        self.context = "default"
        self.options: Any = None  # endpoint.GlobalOptions
        self._api = None

    @property
    def api(self):
        if self._api is None:
            from hako.client.api import APIClient

            self._api = APIClient.from_host(self.host, self.environ.get("DOCKER_API_VERSION"),
                                            tls=self.tls)
        return self._api

    def configure(self, opts: Any) -> None:
        """Apply the global flags: config dir, then the endpoint (contexts).

        Raises:
            CliError: an unknown context or conflicting options, with docker's text.
        """
        from hako.cli import endpoint

        self.options = opts
        if opts.config:
            self.environ = {**self.environ, "DOCKER_CONFIG": opts.config}
        try:
            ep = endpoint.resolve(opts, self.environ)
        except endpoint.ContextNotFound as exc:
            raise CliError(f"Failed to initialize: unable to resolve docker endpoint: {exc}",
                           bare=True) from exc
        except errors.InvalidArgument as exc:
            raise CliError(str(exc), bare=True) from exc
        self.host, self.tls, self.context = ep.host, ep.tls, ep.context

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


GLOBAL_VALUE_FLAGS = {"-H": "hosts", "--host": "hosts", "-l": "log_level",
                      "--log-level": "log_level", "--config": "config", "-c": "context",
                      "--context": "context", "--tlscacert": "tlscacert",
                      "--tlscert": "tlscert", "--tlskey": "tlskey"}
GLOBAL_BOOL_FLAGS = {"-D": "debug", "--debug": "debug", "--tls": "tls", "--tlsverify": "tlsverify"}


def global_parser():
    """The global flags as a Parser (for help and completion; parsing is _global_flags)."""
    from hako.cli.parsing import Parser

    p = Parser("", "[OPTIONS] COMMAND")
    p.option("--config")
    p.option("-c", "--context")
    p.flag("-D", "--debug")
    p.multi("-H", "--host")
    p.option("-l", "--log-level")
    for name in ("--tls", "--tlsverify"):
        p.flag(name)
    for name in ("--tlscacert", "--tlscert", "--tlskey"):
        p.option(name)
    p.flag("-v", "--version")
    return p


def _usage_error(what: str) -> UsageError:
    return UsageError(f"{what}\n\nUsage:  {PROG} [OPTIONS] COMMAND [ARG...]\n\n"
                      f"Run '{PROG} --help' for more information", 125)


def _global_flags(argv: list[str]) -> tuple[Any, list[str]]:
    """Leading global flags → (GlobalOptions, the rest of argv)."""
    from hako.cli.endpoint import GlobalOptions

    found: dict[str, Any] = {"hosts": []}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        tok = argv[i]
        name, eq, value = tok.partition("=")
        if name[:2] in ("-H", "-l", "-c") and len(name) > 2 and not name.startswith("--"):
            name, eq, value = name[:2], "=", tok[2:].lstrip("=")
        if name in GLOBAL_VALUE_FLAGS:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise _usage_error(f"flag needs an argument: {name}")
                value = argv[i]
            key = GLOBAL_VALUE_FLAGS[name]
            if key == "hosts":
                found["hosts"].append(value)
            else:
                found[key] = value
        elif name in GLOBAL_BOOL_FLAGS:
            found[GLOBAL_BOOL_FLAGS[name]] = value.lower() not in ("0", "f", "false") \
                if eq else True
        elif name in ("-v", "--version"):
            return GlobalOptions(), ["--version"]
        elif name in ("--help", "-h"):
            return GlobalOptions(), ["--help"]
        elif tok == "--":
            i += 1
            break
        else:
            raise _usage_error(f"unknown flag: {name}" if name.startswith("--") else
                               f"unknown shorthand flag: '{name[1]}' in {name}")
        i += 1
    found["hosts"] = tuple(found["hosts"])
    return GlobalOptions(**found), argv[i:]


def _resolve(args: list[str], environ: Mapping[str, str]) -> tuple[str, str, list[str]]:
    """argv after global flags → (command name, "module:function", rest)."""
    if not args or args == ["--help"]:
        raise HelpShown(root_help(environ))
    name, rest = args[0], args[1:]
    if name in GROUPS:
        if not rest or rest[0] in ("--help", "-h") or (rest[0] == "help" and len(rest) == 1):
            raise HelpShown(group_help(name))
        if rest[0] not in GROUPS[name]:
            sub = rest[0]
            raise UsageError(f"{PROG}: unknown command: {PROG} {name} {sub}\n\n"
                             f"Usage:  {PROG} {name}\n\n"
                             f"Run '{PROG} {name} --help' for more information", 1)
        name, rest = GROUPS[name][rest[0]], rest[1:]
    if name in SPECIAL:
        return name, SPECIAL[name], rest
    if name not in COMMANDS:
        raise UsageError(f"{PROG}: unknown command: {PROG} {name}\n\n"
                         f"Run '{PROG} --help' for more information", 1)
    return name, COMMANDS[name], rest


def root_help(environ: Mapping[str, str]) -> str:
    from hako.cli import help as helptext

    management = set(GROUPS) | (MANAGEMENT_COMMANDS & set(COMMANDS))
    return helptext.root_help(set(COMMANDS) | set(GROUPS), management, global_parser(),
                              environ)


def group_help(group: str) -> str:
    from hako.cli import help as helptext

    subs = sorted(s for s in GROUPS[group] if s not in HIDDEN_ALIASES)
    return helptext.group_help(group, subs)


# command → (exit code, prefix) of a template parse error, then of an execution error, as
# docker's (formatter-based list commands validate and report both as "template parsing error")
TEMPLATE_ERRORS: dict[str, tuple[int, str, int, str]] = {
    "": (1, "template parsing error: ", 1, "template parsing error: "),
    "ps": (1, "failed to parse template: ", 1, "failed to execute template: "),
    "inspect": (64, "template parsing error: ", 1, "template parsing error: "),
    "version": (64, "template parsing error: ", 1, ""),
    "info": (64, "template parsing error: ", 1, ""),
    "events": (64, "Error parsing format: ", 64, "Error parsing format: "),
}


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
        codes = TEMPLATE_ERRORS.get(ctx.command.split()[-1] if ctx.command.endswith(
            " inspect") else ctx.command, TEMPLATE_ERRORS[""])
        code, prefix = codes[:2] if isinstance(exc, TemplateParseError) else codes[2:]
        return code, f"{prefix}{exc}"
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
        opts, args = _global_flags(list(argv))
        if args == ["--version"]:
            from hako import __version__

            ctx.out(f"hako version {__version__}")
            return 0
        if args[:1] == ["help"]:  # hako help [COMMAND...]
            args = args[1:] + ["--help"] if args[1:] else []
        name, target, rest = _resolve(args, environ)
        ctx.invoked = " ".join(args[: len(args) - len(rest)])
        try:
            ctx.configure(opts)
        except CliError:
            if "--help" not in rest and "-h" not in rest:
                raise  # help needs no daemon, so a bad context does not stop it
        ctx.command = name.split()[-1] if name.startswith("image ") else name
        module, func = target.split(":")
        fn = getattr(importlib.import_module(f"hako.cli.commands.{module}"), func)
        return int(fn(ctx, rest) or 0)
    except BaseException as exc:  # noqa: BLE001 - mapped to exit codes in one place
        if isinstance(exc, SystemExit):
            raise
        code, text = exit_status(exc, ctx)
        if text and isinstance(exc, UsageError):
            from hako.cli.parsing import as_invoked

            text = as_invoked(text, exc.command, ctx.invoked)
        if text and isinstance(exc, HelpShown):
            ctx.out(text)
        elif text:
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
