"""Help texts as the docker CLI prints them (cobra/pflag layout), for hako's own parsers.

What a command and each flag *mean* comes from ``helpdata.json`` (generated from the docker
CLI's help by ``scripts/gen_cli_help.py``); which flags exist comes from hako's parsers, so
help never lists a flag hako does not accept. Flags that docker lacks (hako extensions) use
the ``help=`` of their definition. Client stack; imported only when help is printed.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from collections.abc import Mapping
from typing import Any

from hako.cli.credentials import config_dir
from hako.cli.parsing import PROG, Parser

WIDTH = 79  # docker wraps flag usages at the terminal width - 1 (80 when not a terminal)
_SLOP = 5
SHORT_OVERRIDES = {"registry": "Serve an OCI distribution registry (hako)",
                   "compose": "Docker Compose",
                   "generate": "Generate a systemd unit for a container (hako)",
                   "completion": "Generate the autocompletion script for the specified shell",
                   "image bootstrap": "Make a base image locally (busybox, debian:bookworm)",
                   "system check": "Check the engine's store for inconsistencies (hako)"}


@lru_cache(maxsize=1)
def data() -> dict[str, Any]:
    with open(os.path.join(os.path.dirname(__file__), "helpdata.json"), encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    out: dict[str, str] = {}
    for key, doc in data()["commands"].items():
        out.setdefault(key, key)
        for alias in doc.get("aliases") or []:
            out.setdefault(alias.split(" ", 1)[1], key)
    return out


def entry(command: str) -> dict[str, Any] | None:
    """docker's help entry for a hako command path ("ps", "container ls", "volume rm")."""
    key = _alias_index().get(command)
    return data()["commands"].get(key) if key else None


def short(command: str) -> str:
    """The one-line description of a command or group."""
    if command in SHORT_OVERRIDES:
        return SHORT_OVERRIDES[command]
    shorts = data()["shorts"]
    if command in shorts:
        return shorts[command]
    key = _alias_index().get(command)
    if key in shorts:
        return shorts[key]
    return data()["groups"].get(command, {}).get("short", "")


def _long(command: str) -> str:
    doc = entry(command)
    text = (doc or {}).get("long") or short(command)
    return re.sub(r"(?<![-\w])docker ", f"{PROG} ", text)


def _wrap_n(i: int, s: str) -> tuple[str, str]:
    if i + _SLOP > len(s):
        return s, ""
    w = max(s.rfind(" ", 0, i), s.rfind("\t", 0, i), s.rfind("\n", 0, i))
    if w <= 0:
        return s, ""
    nl = s.rfind("\n", 0, i)
    if 0 < nl < w:
        return s[:nl], s[nl + 1:]
    return s[:w], s[w + 1:]


def wrap(i: int, s: str, width: int = WIDTH) -> str:
    """pflag's wrap(): text starting at column ``i``, wrapped at ``width``."""
    room = width - i
    prefix = ""
    if room < 24:
        i, room = 16, width - 16
        prefix = "\n" + " " * i
    pad = "\n" + " " * i
    if room < 24:
        return prefix + s.replace("\n", pad)
    room -= _SLOP
    line, rest = _wrap_n(room, s)
    out = prefix + line.replace("\n", pad)
    while rest:
        line, rest = _wrap_n(room, rest)
        out += pad + line.replace("\n", pad)
    return out


def flag_rows(parser: Parser, doc: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(left column, description) per visible flag of ``parser``, sorted as pflag does."""
    known = (doc or {}).get("flags") or {}
    rows = []
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        shorts = [o for o in action.option_strings if not o.startswith("--")]
        if action.dest == "help_" or not longs or getattr(action, "hidden", False):
            continue
        name = next((o for o in longs if o in known), longs[0])
        info = known.get(name) or {}
        if not info and action.help is None:
            continue  # a deprecated spelling docker hides too
        kind = info.get("type") if info else _type_of(action)
        left = (f"  {shorts[0]}, {name}" if shorts else f"      {name}") + (f" {kind}" if kind else "")
        desc = info.get("desc") if info else (action.help or "")
        default = info.get("default") if info else None
        if default is not None:
            desc += f" (default {default})"
        rows.append((left, desc))
    if "--help" in known:
        rows.append(("      --help", known["--help"]["desc"]))
    rows.sort(key=lambda r: r[0].split("--", 1)[1])
    return rows


def _type_of(action: Any) -> str:
    if action.nargs == 0:
        return ""
    return "list" if action.__class__.__name__ == "_AppendAction" else "string"


def format_flags(rows: list[tuple[str, str]]) -> str:
    if not rows:
        return ""
    col = max(len(left) for left, _ in rows) + 3
    return "".join(f"{left.ljust(col - 1)} {wrap(col, desc)}\n" for left, desc in rows)


def command_help(parser: Parser) -> str:
    """``hako COMMAND --help``: usage, description, aliases, options."""
    doc = entry(parser.command)
    text = f"Usage:  {parser.usage_line}\n\n{_long(parser.command)}\n"
    if doc and doc.get("aliases"):
        aliases = ", ".join(PROG + " " + a.split(" ", 1)[1] for a in doc["aliases"])
        text += f"\nAliases:\n  {aliases}\n"
    flags = format_flags(flag_rows(parser, doc))
    if flags:
        text += f"\nOptions:\n{flags}"
    return text.rstrip("\n")


def _command_list(names: list[tuple[str, str]]) -> str:
    width = max([len(n) for n, _ in names] + [10]) + 2
    return "".join(f"  {n.ljust(width)}{d}\n" for n, d in names)


def group_help(group: str, subcommands: list[str]) -> str:
    """``hako GROUP --help``: the group's verbs with their descriptions."""
    rows = [(sub, short(f"{group} {sub}")) for sub in subcommands]
    return (f"Usage:  {PROG} {group} COMMAND\n\n{short(group)}\n\nCommands:\n"
            f"{_command_list(rows)}\nRun '{PROG} {group} COMMAND --help' for more information "
            "on a command.")


def root_help(commands: set[str], groups: set[str], global_parser: Parser,
              environ: Mapping[str, str]) -> str:
    """``hako``, ``hako -h``, ``hako --help``: docker's sections for what hako serves."""
    sections = data()["root"]["sections"]
    common = [(n, short(n)) for n, _ in sections["Common Commands"] if n in commands]
    common_names = {n for n, _ in common}
    mgmt = sorted((g, short(g)) for g in groups)
    rest = sorted((n, short(n)) for n in commands if n not in common_names and n not in groups)
    out = (f"Usage:  {PROG} [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\n"
           f"Common Commands:\n{_command_list(common)}\n"
           f"Management Commands:\n{_command_list(mgmt)}\n"
           f"Commands:\n{_command_list(rest)}\n"
           f"Global Options:\n{format_flags(global_rows(global_parser, environ))}\n"
           f"Run '{PROG} COMMAND --help' for more information on a command.")
    return out


def global_rows(parser: Parser, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    cfg = config_dir(environ)
    rows = flag_rows(parser, data()["root"])
    return [(left, desc.replace("docker context use", f"{PROG} context use")
             .replace('"/root/.docker', f'"{cfg}')) for left, desc in rows]
