"""Variable interpolation as compose does it: ``$VAR``, ``${VAR}``, ``${VAR:-d}``,
``${VAR-d}``, ``${VAR:?err}``, ``${VAR?err}``, ``${VAR:+x}``, ``${VAR+x}`` and ``$$``.

Defaults and replacements may themselves contain interpolations. Only values are
interpolated, never keys. An unset variable without a default becomes "" with a warning
(compose's ``The "X" variable is not set. Defaulting to a blank string.``).

May import: errors (through .errors).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from hako.compose.yamlfile import Marks, Path

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


class TemplateError(ValueError):
    """A bad template or a required variable without a value (message is compose's)."""


def substitute(text: str, env: Mapping[str, str],
               warn: Callable[[str], None] | None = None) -> str:
    """Interpolate one string.

    Raises:
        TemplateError: ``Invalid template`` or ``required variable X is missing a value``.
    """
    if "$" not in text:
        return text
    out, _ = _scan(text, 0, env, warn, closing=False)
    return out


def _scan(text: str, i: int, env, warn, closing: bool) -> tuple[str, int]:
    """Expand from ``i`` until the end (or an unmatched ``}`` when ``closing``)."""
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if closing and c == "}":
            return "".join(out), i
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            value, i = _braced(text, i, env, warn)
            out.append(value)
        else:
            m = _NAME.match(text, i + 1)
            if not m:
                out.append("$")  # a lone $ stays (compose keeps it)
                i += 1
                continue
            out.append(_lookup(m.group(), env, warn))
            i = m.end()
    if closing:
        raise TemplateError(f'Invalid template: "{text}"')
    return "".join(out), i


def _lookup(name: str, env, warn) -> str:
    if name in env:
        return env[name]
    if warn:
        warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
    return ""


def _braced(text: str, start: int, env, warn) -> tuple[str, int]:
    m = _NAME.match(text, start + 2)
    if not m:
        raise TemplateError(f'Invalid template: "{text}"')
    name, i = m.group(), m.end()
    if i < len(text) and text[i] == "}":
        return _lookup(name, env, warn), i + 1
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if text.startswith(op, i):
            break
    else:
        raise TemplateError(f'Invalid template: "{text}"')
    # the argument is expanded lazily for ?, eagerly for the others (it is cheap)
    arg, end = _scan(text, i + len(op), env, None if op.endswith("?") else warn, closing=True)
    value = env.get(name)
    empty = value is None or (op.startswith(":") and value == "")
    if op.endswith("-"):
        result = arg if empty else value
    elif op.endswith("+"):
        result = "" if empty else arg
    else:
        if empty:
            msg = f"required variable {name} is missing a value"
            raise TemplateError(f"{msg}: {arg}" if arg else msg)
        result = value
    return result or "", end + 1


def interpolate(data: Any, env: Mapping[str, str], marks: Marks, path: Path = (),
                warn: Callable[[str], None] | None = None) -> Any:
    """Interpolate every string value of a loaded document (keys are left alone).

    Raises:
        ComposeError: naming the file, line and path of the failing value.
    """
    if isinstance(data, str):
        try:
            return substitute(data, env, warn)
        except TemplateError as exc:
            raise marks.error(str(exc), path) from None
    if isinstance(data, dict):
        return {k: interpolate(v, env, marks, path + (k,), warn) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, marks, path + (i,), warn) for i, v in enumerate(data)]
    return data
