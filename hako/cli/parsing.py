"""Argument parsing with docker's flag syntax and error texts, on top of argparse.

- ``-it``, ``-dit``, ``-p8080:80``, ``--flag=value`` and ``--flag value`` (argparse does these);
- boolean flags take ``=true``/``=false`` (``--rm=false``, ``-d=true``, ``--sig-proxy=false``);
- seed-era single-dash long flags (``-rm``, ``-name x``, ``-link``) and ``-r=false`` still
  work with docker 1.x's deprecation warning on stderr;
- ``run``/``create``/``exec`` stop option parsing at the first positional (the command's
  own arguments follow);
- errors raise :class:`UsageError` carrying docker's message and exit status (125 for flag
  errors, 1 for a wrong argument count).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TextIO

from hako.errors import EngineError

PROG = "hako"
_TRUE = {"1", "t", "true", "y", "yes"}
_FALSE = {"0", "f", "false", "n", "no"}


class UsageError(Exception):
    """Bad command line: ``str()`` is the full text to print, ``status`` the exit code."""

    def __init__(self, message: str, status: int = 125, command: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.command = command  # the parser's command path, when a parser raised it


class HelpShown(UsageError):
    """``--help``/``-h``: the text goes to stdout and the status is 0, as docker's."""

    def __init__(self, message: str, parser: "Parser | None" = None) -> None:
        super().__init__(message, 0, parser.command if parser else "")
        self.parser = parser  # the command's parser (shell completion reads its flags)


class _BoolAction(argparse.Action):
    def __init__(self, option_strings, dest, default=False, **kw):
        super().__init__(option_strings, dest, nargs=0, default=default, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)


class Parser(argparse.ArgumentParser):
    """A per-command parser; ``usage`` is docker's usage line after the command name."""

    def __init__(self, command: str, usage: str, interspersed: bool = True) -> None:
        super().__init__(prog=f"{PROG} {command}", add_help=False, allow_abbrev=False)
        self.command = command
        self.usage_line = f"{PROG} {command} {usage}"
        self.interspersed = interspersed
        self.add_argument("--help", action="store_true", dest="help_")

    def _get_formatter(self):
        # argparse builds a formatter on each add_argument (a metavar check); given no width it
        # imports shutil (with bz2, lzma) for the terminal size. Our help is help.py's, not this.
        return self.formatter_class(prog=self.prog, width=100)

    # -- definitions -----------------------------------------------------------------------

    def flag(self, *names: str, **kw: Any) -> None:
        """A boolean flag accepting ``=true/false``."""
        self.add_argument(*names, action=_BoolAction, default=kw.pop("default", False), **kw)

    def option(self, *names: str, **kw: Any) -> None:
        """A flag with a value (``type`` may raise EngineError or ValueError)."""
        self.add_argument(*names, **kw)

    def content_trust(self) -> None:
        """docker's ``--disable-content-trust`` (default true); see :func:`check_trust`."""
        self.flag("--disable-content-trust", default=True)

    def multi(self, *names: str, **kw: Any) -> None:
        """A repeatable flag collecting a list (``--filter`` values must be name=value)."""
        if "--filter" in names and "type" not in kw:
            kw["type"] = filter_arg
        self.add_argument(*names, action="append", default=[], **kw)

    # -- errors ----------------------------------------------------------------------------

    def usage_error(self, message: str, status: int = 125) -> UsageError:
        return UsageError(
            f"{message}\n\nUsage:  {self.usage_line}\n\n"
            f"Run '{PROG} {self.command} --help' for more information", status, self.command)

    def error(self, message: str):  # argparse hook
        raise self.usage_error(message)

    def _get_value(self, action, arg_string):
        try:
            return super()._get_value(action, arg_string)
        except (argparse.ArgumentError, EngineError, ValueError) as exc:
            msg = str(exc)
            if isinstance(exc, argparse.ArgumentError):
                msg = exc.message
            # pflag's "-m, --memory"; an alias (--net) is a flag of its own there: the main name
            names = ", ".join([o for o in action.option_strings if not o.startswith("--")]
                              + [o for o in action.option_strings if o.startswith("--")][:1])
            raise self.usage_error(f'invalid argument "{arg_string}" for "{names}" flag: {msg}')

    def need_args(self, args: list[str], at_least: int = 0, exactly: int | None = None,
                  at_most: int | None = None) -> None:
        """Check the positional count with docker's messages (exit status 1)."""
        n = len(args)
        if n and (exactly == 0 or at_most == 0):
            raise UsageError(
                f"{PROG}: '{PROG} {self.command}' accepts no arguments\n\nUsage:  "
                f"{self.usage_line}\n\nRun '{PROG} {self.command} --help' for more information",
                1, self.command)
        if exactly is not None and n != exactly:
            what = f"exactly {exactly} argument{'s' if exactly != 1 else ''}"
        elif n < at_least:
            what = f"at least {at_least} argument{'s' if at_least != 1 else ''}"
        elif at_most is not None and n > at_most:
            what = f"at most {at_most} argument{'s' if at_most != 1 else ''}"
        else:
            return
        raise UsageError(
            f"{PROG}: '{PROG} {self.command}' requires {what}\n\nUsage:  {self.usage_line}\n\n"
            f"See '{PROG} {self.command} --help' for more information", 1, self.command)

    # -- parsing ---------------------------------------------------------------------------

    def parse(self, argv: Sequence[str], stderr: TextIO | None = None
              ) -> tuple[argparse.Namespace, list[str]]:
        """Parse ``argv``; returns (options, positionals).

        Raises:
            UsageError: unknown flags, bad values, ``--help`` (status 0).
        """
        argv, overrides = self._preprocess(list(argv), stderr)
        tail: list[str] = []
        if not self.interspersed:
            argv, tail = self._split_first_positional(argv)
        opts, rest = self.parse_known_args(argv)
        for token in rest:
            if token.startswith("--") and len(token) > 2:
                raise self.usage_error(f"unknown flag: {token.split('=')[0]}")
            if token.startswith("-") and len(token) > 1:
                raise self.usage_error(f"unknown shorthand flag: '{token[1]}' in {token}")
        for dest, value in overrides.items():
            setattr(opts, dest, value)
        if opts.help_:
            from hako.cli.help import command_help

            raise HelpShown(command_help(self), self)
        positionals = [t for t in rest if not t.startswith("-") or t == "-"] + tail
        return opts, positionals

    def _takes_value(self, option: str) -> bool | None:
        action = self._option_string_actions.get(option)
        if action is None:
            return None
        return action.nargs != 0

    def _split_first_positional(self, argv: list[str]) -> tuple[list[str], list[str]]:
        i = 0
        while i < len(argv):
            tok = argv[i]
            if tok == "--":
                return argv[:i], argv[i + 1 :]
            if tok.startswith("--"):
                if "=" not in tok and self._takes_value(tok):
                    i += 1
            elif tok.startswith("-") and len(tok) > 1:
                for j, ch in enumerate(tok[1:], start=1):
                    if self._takes_value("-" + ch):
                        if j == len(tok) - 1:
                            i += 1
                        break
            else:
                return argv[:i], argv[i:]
            i += 1
        return argv, []

    def _bool_dest(self, option: str) -> str | None:
        action = self._option_string_actions.get(option)
        return action.dest if isinstance(action, _BoolAction) else None

    def _preprocess(self, argv: list[str], stderr: TextIO | None
                    ) -> tuple[list[str], dict[str, bool]]:
        out: list[str] = []
        overrides: dict[str, bool] = {}
        skip_next = False
        for idx, tok in enumerate(argv):
            if skip_next or tok == "--" or not tok.startswith("-") or tok == "-":
                if tok == "--" or (not tok.startswith("-") and not skip_next
                                   and not self.interspersed):
                    out += argv[idx:]
                    return out, overrides
                if skip_next and tok.startswith("-") and out and out[-1].startswith("--"):
                    out[-1] += "=" + tok  # a value such as -1s (pflag takes it; argparse
                    skip_next = False     # would read it as a flag)
                    continue
                skip_next = False
                out.append(tok)
                continue
            if tok == "-h" and "-h" not in self._option_string_actions:
                tok = "--help"
            tok = self._seed_spelling(tok, stderr)
            name, eq, value = tok.partition("=")
            dest = self._bool_dest(name)
            if dest and eq:
                low = value.lower()
                if low not in _TRUE | _FALSE:
                    raise self.usage_error(
                        f'invalid argument "{value}" for "{name}" flag: strconv.ParseBool: '
                        f'parsing "{value}": invalid syntax')
                overrides[dest] = low in _TRUE
                continue
            if not eq and self._takes_value(name) and (name.startswith("--") or len(name) == 2):
                skip_next = True
            elif not name.startswith("--") and len(name) > 2:
                skip_next = self._short_run_needs_next(name)
            out.append(tok)
        return out, overrides

    def _short_run_needs_next(self, tok: str) -> bool:
        for j, ch in enumerate(tok[1:], start=1):
            if self._takes_value("-" + ch):
                return j == len(tok) - 1
        return False

    def _seed_spelling(self, tok: str, stderr: TextIO | None) -> str:
        """Rewrite docker 1.x single-dash long flags, warning like docker 1.x did."""
        if tok.startswith("--") or len(tok) <= 2:
            return tok
        name, eq, value = tok.partition("=")
        new = None
        if name == "-r" and eq and "--restart" in self._option_string_actions:
            low = value.lower()
            policy = "no" if low in _FALSE else "always" if low in _TRUE else value
            new = f"--restart={policy}"
        elif len(name) > 2 and ("-" + name) in self._option_string_actions:
            new = "-" + tok
        if new is None:
            return tok
        if stderr is not None:
            old_name = name if name != "-r" else tok
            new_name = new.partition("=")[0] if name != "-r" else new
            stderr.write(f"Warning: '{old_name}' is deprecated, it will be replaced by "
                         f"'{new_name}' soon. See usage.\n")
        return new


def as_invoked(text: str, command: str, invoked: str) -> str:
    """Usage texts name the command as typed (``hako container ls``, not ``hako ps``)."""
    if not command or not invoked or command == invoked:
        return text
    old, new = f"{PROG} {command}", f"{PROG} {invoked}"
    out = []
    for line in text.split("\n"):
        if line.startswith(("Usage:", "Run '", "See '")) or f"'{old}'" in line:
            line = line.replace(old + " ", new + " ").replace(f"'{old}'", f"'{new}'")
            if line.endswith(old):
                line = line[: -len(old)] + new
        out.append(line)
    return "\n".join(out)


def check_trust(opts: argparse.Namespace) -> None:
    """Content trust (Notary) does not exist in hako: asking for it is refused.

    Raises:
        InvalidArgument: ``--disable-content-trust=false``.
    """
    from hako.errors import InvalidArgument

    if not getattr(opts, "disable_content_trust", True):
        raise InvalidArgument("content trust is not supported (--disable-content-trust=false)")


def filter_arg(text: str) -> str:
    """A ``--filter`` value: docker refuses one without '=' as a flag error."""
    if "=" not in text:
        raise argparse.ArgumentTypeError("bad format of filter (expected name=value)")
    return text


def go_int(text: str) -> int:
    """int parsing with Go's strconv error text."""
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
