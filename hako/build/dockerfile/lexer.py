"""Parser directives of a Dockerfile (``# escape=`` and ``# syntax=``) and heredoc bodies.

Physical → logical lines (continuations, comments, heredoc collection) is done by BuildKit's
own parser through the ``dockerfile`` package; what is left here is what that package does
not expose: the escape character the word expander needs, and heredoc chomping.

Layer 5 (build). May import: errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hako.errors import InvalidArgument

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


@dataclass(frozen=True)
class Directives:
    escape: str = "\\"
    syntax: str = ""


def parse_directives(text: str) -> Directives:
    """Read the directives at the top of a Dockerfile (they stop at the first other line).

    Raises:
        InvalidArgument: an escape directive other than ``\\`` or a backtick.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _DIRECTIVE.match(line.strip())
        if not m:
            break
        key = m.group(1).lower()
        if key in found:
            break
        found[key] = m.group(2)
    escape = found.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise InvalidArgument(f"invalid escape token '{escape}' does not match [\\\\`]")
    return Directives(escape=escape, syntax=found.get("syntax", ""))


def heredoc_body(content: str, chomp: bool) -> str:
    """A heredoc's text; ``<<-`` strips leading tabs from every line."""
    if not chomp:
        return content
    return "".join(line.lstrip("\t") for line in content.splitlines(keepends=True))


def heredoc_marker(word: str) -> tuple[str, bool, bool] | None:
    """``<<EOF``, ``<<-EOF``, ``<<"EOF"`` → (name, chomp, expand); None if not a marker."""
    if not word.startswith("<<"):
        return None
    rest, chomp = word[2:], False
    if rest.startswith("-"):
        rest, chomp = rest[1:], True
    expand = True
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
        rest, expand = rest[1:-1], False
    if not rest or not all(c.isalnum() or c in "_-." for c in rest):
        return None
    return rest, chomp, expand
