"""``.env`` files as compose reads them (``KEY=VALUE``, ``export``, quotes, comments).

Unquoted and double-quoted values are interpolated against what is defined so far and the
caller's environment; single-quoted values are literal; double quotes understand ``\\n``,
``\\t``, ``\\"`` and ``\\\\``. A line ``KEY`` alone takes the caller's value when it has one.

May import: errors (through .errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hako.compose.errors import ComposeError
from hako.compose.interpolate import TemplateError, substitute

_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=)?\s*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse(text: str, environ: Mapping[str, str], file: str = "") -> dict[str, str]:
    """Parse an env file's text.

    Raises:
        ComposeError: a malformed line or an unterminated quote, naming file and line.
    """
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line, lineno = lines[i], i + 1
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _KEY.match(line)
        if not m:
            raise ComposeError(f"unexpected character in variable name {line.strip()!r}",
                               file, lineno)
        key, rest = m.group(1), line[m.end():]
        if not m.group(2):
            if rest.strip() and not rest.lstrip().startswith("#"):
                raise ComposeError(f"unexpected character in variable name {line.strip()!r}",
                                   file, lineno)
            if key in environ:
                out[key] = environ[key]
            continue
        scope = {**environ, **out}
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body = rest[1:]
            while _closing(body, quote) < 0 and i < len(lines):  # multi-line value
                body += "\n" + lines[i]
                i += 1
            end = _closing(body, quote)
            if end < 0:
                raise ComposeError(f"unterminated quoted value for {key}", file, lineno)
            value = body[:end]
            if quote == '"':
                value = _interp(re.sub(r"\\(.)", lambda x: _ESCAPES.get(x.group(1), x.group(0)),
                                       value), scope, file, lineno)
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
            value = _interp(value, scope, file, lineno)
        out[key] = value
    return out


def _closing(body: str, quote: str) -> int:
    i = 0
    while i < len(body):
        if body[i] == "\\" and quote == '"':
            i += 2
            continue
        if body[i] == quote:
            return i
        i += 1
    return -1


def _interp(value: str, env: Mapping[str, str], file: str, line: int) -> str:
    try:
        return substitute(value, env)
    except TemplateError as exc:
        raise ComposeError(str(exc), file, line) from None


def parse_raw(text: str) -> dict[str, str]:
    """``format: raw``: ``KEY=VALUE`` taken literally (no quotes, no interpolation)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def read(path: str, environ: Mapping[str, str], raw: bool = False) -> dict[str, str]:
    """Read and parse an env file (``raw``: literally, see :func:`parse_raw`).

    Raises:
        ComposeError: the file cannot be read or is malformed.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ComposeError(f"couldn't read env file: open {path}: "
                           f"{(exc.strerror or str(exc)).lower()}") from exc
    return parse_raw(text) if raw else parse(text, environ, path)
