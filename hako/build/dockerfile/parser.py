"""Dockerfile text → typed instructions with line numbers.

BuildKit's own parser (the ``dockerfile`` package, through ``goparse``: outside hakod's
process when it can) splits the text into commands (continuations, comments, JSON forms,
heredocs); this module checks each command the way BuildKit's ``instructions`` package
does and maps it to ``instructions.py`` types. Errors read ``Dockerfile parse error line N:
<reason>`` like Docker's.

Layer 5 (build). May import: errors, runtime (zygote, through goparse).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hako.build.dockerfile import instructions as ins
from hako.build.dockerfile.lexer import Directives, heredoc_marker, parse_directives
from hako.errors import InvalidArgument


class DockerfileParseError(InvalidArgument):
    """A Dockerfile that cannot be parsed; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"Dockerfile parse error line {line}: {reason}")
        self.line = line
        self.reason = reason


def parse(text: str) -> tuple[Directives, list[ins.Instruction]]:
    """Parse a whole Dockerfile.

    Returns:
        (directives, instructions in file order).

    Raises:
        DockerfileParseError: unknown instruction, wrong arguments, bad flags.
    """
    from hako.build.dockerfile import goparse

    directives = parse_directives(text)
    try:
        commands = goparse.parse_string(text)
    except goparse.GoParseError as exc:
        raise DockerfileParseError(_error_line(str(exc)), str(exc)) from exc
    return directives, [convert(c) for c in commands]


def _error_line(message: str) -> int:
    import re

    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else 0


def parse_trigger(expression: str, line: int) -> ins.Instruction:
    """Parse one ONBUILD trigger's text (e.g. ``RUN echo hi``) for a child build.

    Raises:
        DockerfileParseError: as :func:`parse`, reported at ``line``.
    """
    from hako.build.dockerfile import goparse

    try:
        commands = goparse.parse_string(expression + "\n")
    except goparse.GoParseError as exc:
        raise DockerfileParseError(line, str(exc)) from exc
    if len(commands) != 1:
        raise DockerfileParseError(line, f"invalid ONBUILD trigger: {expression}")
    c = commands[0]
    return convert(c._replace(start_line=line, end_line=line))


def _flags(c: Any, allowed: dict[str, bool]) -> dict[str, str]:
    """``--name=value`` / ``--name`` flags, checked against ``allowed`` (name → is bool)."""
    out: dict[str, str] = {}
    for raw in c.flags:
        body = raw[2:] if raw.startswith("--") else raw
        name, eq, value = body.partition("=")
        if name not in allowed:
            raise DockerfileParseError(c.start_line, f"Unknown flag: {name}")
        if allowed[name]:
            if eq and value.lower() not in ("true", "false"):
                raise DockerfileParseError(c.start_line, f"expecting boolean value for flag {name}, not: {value}")
            value = "false" if value.lower() == "false" else "true"
        elif not eq:
            raise DockerfileParseError(c.start_line, f"Missing a value on flag: {name}")
        out[name] = value
    return out


def _need(c: Any, n: int, what: str = "") -> None:
    if len(c.value) < n or (n and not any(v for v in c.value)):
        kw = c.cmd.upper()
        raise DockerfileParseError(c.start_line, what or f"{kw} requires at least one argument")


def _heredocs(c: Any) -> tuple[ins.Heredoc, ...]:
    out = []
    markers = {}
    for word in " ".join(c.value).split():
        m = heredoc_marker(word)
        if m:
            markers[m[0]] = m
    for h in c.heredocs:
        _, chomp, expand = markers.get(h.name, (h.name, False, True))
        out.append(ins.Heredoc(name=h.name, content=h.content, chomp=chomp, expand=expand))
    return tuple(out)


def _pairs(c: Any, kw: str) -> tuple[tuple[str, str], ...]:
    values = list(c.value)
    if not values:
        raise DockerfileParseError(c.start_line, f"{kw} requires at least one argument")
    if len(values) % 2:
        raise DockerfileParseError(c.start_line, f"{kw} must have two arguments")
    return tuple((values[i], values[i + 1]) for i in range(0, len(values), 2))


def _from(c: Any, base: dict) -> ins.Instruction:
    fl = _flags(c, {"platform": False})
    v = list(c.value)
    if len(v) not in (1, 3) or (len(v) == 3 and v[1].lower() != "as"):
        raise DockerfileParseError(c.start_line, "FROM requires either one or three arguments")
    name = v[2].lower() if len(v) == 3 else ""
    if name and not all(ch.isalnum() or ch in "_-." for ch in name) or name[:1] in ("-", "."):
        raise DockerfileParseError(c.start_line, f"invalid name for build stage: {v[2]!r}, name can't start with a number or contain symbols")
    return ins.From(**base, image=v[0], name=name, platform=fl.get("platform", ""))


def _run(c: Any, base: dict) -> ins.Instruction:
    fl = _flags(c, {"network": False, "mount": False, "security": False})
    if "mount" in fl:
        raise DockerfileParseError(c.start_line, "the --mount option requires BuildKit. Refer to "
                                   "https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled")
    _need(c, 1)
    return ins.Run(**base, command=tuple(c.value), json=c.json, heredocs=_heredocs(c),
                   network=fl.get("network", ""))


def _command(kind: type) -> Callable[[Any, dict], ins.Instruction]:
    def make(c: Any, base: dict) -> ins.Instruction:
        _flags(c, {})
        _need(c, 1)
        return kind(**base, command=tuple(c.value), json=c.json)

    return make


def _copy(c: Any, base: dict, add: bool) -> ins.Instruction:
    allowed = {"chown": False, "chmod": False, "link": True}
    allowed.update({"checksum": False, "keep-git-dir": True} if add else {"from": False, "parents": True})
    fl = _flags(c, allowed)
    kw = "ADD" if add else "COPY"
    if len(c.value) < 2:
        raise DockerfileParseError(c.start_line, f"{kw} requires at least two arguments, but only one was "
                                   "provided. Destination could not be determined.")
    kwargs = dict(base, sources=tuple(c.value[:-1]), dest=c.value[-1], chown=fl.get("chown", ""),
                  chmod=fl.get("chmod", ""), link=fl.get("link") == "true", heredocs=_heredocs(c))
    if add:
        return ins.Add(**kwargs, checksum=fl.get("checksum", ""), keep_git_dir=fl.get("keep-git-dir") == "true")
    return ins.Copy(**kwargs, from_=fl.get("from", ""))


def _arg(c: Any, base: dict) -> ins.Instruction:
    _need(c, 1, "ARG requires at least one argument")
    pairs = []
    for word in c.value:
        name, eq, default = word.partition("=")
        if not name:
            raise DockerfileParseError(c.start_line, f"ARG names can not be blank")
        pairs.append((name, default if eq else None))
    return ins.Arg(**base, pairs=tuple(pairs))


def _healthcheck(c: Any, base: dict) -> ins.Instruction:
    fl = _flags(c, {"interval": False, "timeout": False, "start-period": False,
                    "start-interval": False, "retries": False})
    v = list(c.value)
    if not v:
        raise DockerfileParseError(c.start_line, "HEALTHCHECK requires at least one argument")
    kind = v[0].upper()
    if kind == "NONE":
        if len(v) > 1 or fl:
            raise DockerfileParseError(c.start_line, "HEALTHCHECK NONE takes no arguments")
        return ins.Healthcheck(**base, test=("NONE",))
    if kind != "CMD" or len(v) < 2:
        raise DockerfileParseError(c.start_line, f"Unknown type {kind!r} in HEALTHCHECK (try CMD)")
    test = ("CMD", *v[1:]) if c.json else ("CMD-SHELL", " ".join(v[1:]))
    return ins.Healthcheck(**base, test=test, options=fl)


def _onbuild(c: Any, base: dict) -> ins.Instruction:
    sub = (c.sub_cmd or "").upper()
    if not sub:
        raise DockerfileParseError(c.start_line, "ONBUILD requires at least one argument")
    if sub == "ONBUILD":
        raise DockerfileParseError(c.start_line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if sub in ("FROM", "MAINTAINER"):
        raise DockerfileParseError(c.start_line, f"{sub} isn't allowed as an ONBUILD trigger")
    if sub not in _TABLE:
        raise DockerfileParseError(c.start_line, f"unknown instruction: {sub}")
    expression = c.original.split(None, 1)[1] if " " in c.original.strip() else ""
    parse_trigger(expression, c.start_line)  # validate now, like Docker
    return ins.Onbuild(**base, expression=expression.strip())


def _single(kind: type, field: str, kw: str) -> Callable[[Any, dict], ins.Instruction]:
    def make(c: Any, base: dict) -> ins.Instruction:
        _flags(c, {})
        if len(c.value) != 1 or not c.value[0]:
            raise DockerfileParseError(c.start_line, f"{kw} requires exactly one argument")
        return kind(**base, **{field: c.value[0]})

    return make


def _words(kind: type, field: str, kw: str) -> Callable[[Any, dict], ins.Instruction]:
    def make(c: Any, base: dict) -> ins.Instruction:
        _flags(c, {})
        _need(c, 1, f"{kw} requires at least one argument")
        extra = {"json": c.json} if kind is ins.Volume else {}
        return kind(**base, **{field: tuple(c.value)}, **extra)

    return make


def _shell(c: Any, base: dict) -> ins.Instruction:
    _flags(c, {})
    if not c.json:
        raise DockerfileParseError(c.start_line, "SHELL requires the arguments to be in JSON form")
    _need(c, 1, "SHELL requires at least one argument")
    return ins.Shell(**base, shell=tuple(c.value))


_TABLE: dict[str, Callable[[Any, dict], ins.Instruction]] = {
    "FROM": _from,
    "RUN": _run,
    "CMD": _command(ins.Cmd),
    "ENTRYPOINT": _command(ins.Entrypoint),
    "ENV": lambda c, b: (_flags(c, {}), ins.Env(**b, pairs=_pairs(c, "ENV")))[1],
    "ARG": _arg,
    "LABEL": lambda c, b: (_flags(c, {}), ins.Label(**b, pairs=_pairs(c, "LABEL")))[1],
    "MAINTAINER": lambda c, b: (_need(c, 1, "MAINTAINER requires exactly one argument"),
                                ins.Maintainer(**b, name=" ".join(c.value)))[1],
    "EXPOSE": _words(ins.Expose, "ports", "EXPOSE"),
    "COPY": lambda c, b: _copy(c, b, add=False),
    "ADD": lambda c, b: _copy(c, b, add=True),
    "VOLUME": _words(ins.Volume, "paths", "VOLUME"),
    "USER": _single(ins.User, "user", "USER"),
    "WORKDIR": _single(ins.Workdir, "path", "WORKDIR"),
    "ONBUILD": _onbuild,
    "STOPSIGNAL": _single(ins.Stopsignal, "signal", "STOPSIGNAL"),
    "HEALTHCHECK": _healthcheck,
    "SHELL": _shell,
}


def convert(c: Any) -> ins.Instruction:
    """One parsed command → its typed instruction.

    Raises:
        DockerfileParseError: unknown instruction or bad arguments.
    """
    kw = c.cmd.upper()
    make = _TABLE.get(kw)
    if make is None:
        raise DockerfileParseError(c.start_line, f"unknown instruction: {kw}")
    base = {"line": c.start_line, "end_line": c.end_line, "original": c.original.rstrip("\n")}
    return make(c, base)
