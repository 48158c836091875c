"""``.dockerignore`` patterns with Docker's rules (moby/patternmatcher and the CLI's reader).

Lines are trimmed, ``#`` lines and blanks skipped; each pattern is cleaned like Go's
``filepath.Clean`` and a leading ``/`` dropped; ``!`` makes an exception. ``*`` and ``?`` do
not cross ``/``, ``**`` matches any number of directories. A path is excluded when the last
pattern matching it, or matching one of its parent directories, is not an exception.

Layer 5 (build). May import: errors.
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
    regex: re.Pattern[str]
    dirs: int


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file, cleaned, ``!`` kept as a prefix."""
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
        line = posixpath.normpath(line) if line else line
        if len(line) > 1 and line.startswith("/"):
            line = line[1:]
        out.append(("!" if neg else "") + line)
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(.*/)?") if i + 1 < n else out.append(".*")
                    i += 1
                    continue
                out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    try:
        return re.compile("".join(out))
    except re.error as exc:
        raise InvalidArgument(f"syntax error in pattern: {pattern}") from exc


class Matcher:
    """Compiled patterns; ``excluded(path)`` with Docker's parent-directory rule."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for p in patterns:
            neg = p.startswith("!")
            text = p[1:] if neg else p
            if not text:
                raise InvalidArgument("illegal exclusion pattern: \"!\"")
            self.patterns.append(Pattern(text, neg, _compile(text), text.count("/")))

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is excluded from the context."""
        path = posixpath.normpath(path).lstrip("/")
        parents = path.split("/")[:-1]
        matched = False
        for p in self.patterns:
            hit = bool(p.regex.match(path))
            if not hit and parents:
                for i in range(len(parents)):
                    if p.regex.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not p.exclusion
        return matched
