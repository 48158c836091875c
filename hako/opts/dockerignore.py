""".dockerignore matching with moby/patternmatcher's rules, shared by the CLI (which sends the
build context) and the builder (which filters what it receives).

Patterns are cleaned, a leading ``/`` dropped, ``*``/``?`` stay within one path element,
``**`` spans directories, ``!`` re-includes; a path is excluded when the last pattern matching
it or one of its parent directories is not an exception.

Layer: opts (2). May import: errors.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from hako.errors import InvalidArgument


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern | None
    suffix: str | None  # "**…" patterns: moby's suffix match


def read_patterns(text: str) -> list[str]:
    """Patterns of a .dockerignore, cleaned like the CLI's reader (``!`` kept as prefix)."""
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        neg = line.startswith("!")
        if neg:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        out.append(("!" if neg else "") + line)
    return out


def _compile(text: str) -> Pattern:
    exclusion = text.startswith("!")
    pat = text[1:] if exclusion else text
    if not pat:
        raise InvalidArgument("illegal exclusion pattern: \"!\"")
    pat = posixpath.normpath(pat)
    regex, i, suffix = "^", 0, None
    while i < len(pat):
        ch = pat[i]
        if pat.startswith("**", i):
            if i == 0:
                suffix = pat[2:]
            i += 2
            if pat.startswith("/", i):
                i += 1
            regex += ".*" if i >= len(pat) else "(.*/)?"
            continue
        if ch == "*":
            regex += "[^/]*"
        elif ch == "?":
            regex += "[^/]"
        elif ch == "\\" and i + 1 < len(pat):
            i += 1
            regex += re.escape(pat[i])
        elif ch in "[]":
            regex += ch
        else:
            regex += re.escape(ch)
        i += 1
    try:
        compiled = re.compile(regex + "$")
    except re.error as exc:
        raise InvalidArgument(f"syntax error in pattern {text!r}: {exc}") from exc
    return Pattern(pat, exclusion, compiled, suffix)


def _match(p: Pattern, path: str) -> bool:
    if p.suffix is not None and "*" not in p.suffix and "?" not in p.suffix and "[" not in p.suffix:
        if path.endswith(p.suffix):
            return True
        return p.suffix.startswith("/") and path == p.suffix[1:]
    return bool(p.regex.match(path))


class Matcher:
    """``.dockerignore`` matching (see the module docstring)."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [_compile(p) for p in patterns if p]

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether the slash-separated relative ``path`` is left out of the context."""
        matched = False
        parent = posixpath.dirname(path)
        parts = parent.split("/") if parent else []
        for p in self.patterns:
            if p.exclusion != matched:
                continue
            hit = _match(p, path)
            if not hit:
                hit = any(_match(p, "/".join(parts[: i + 1])) for i in range(len(parts)))
            if hit:
                matched = not p.exclusion
        return matched

    def may_include_below(self, directory: str) -> bool:
        prefix = directory + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)


read_dockerignore = read_patterns
