"""Word expansion of Dockerfile arguments, with Docker's (BuildKit's shell lexer) rules.

``$V`` and ``${V}``, ``${V:-word}``/``${V-word}``, ``${V:+word}``/``${V+word}``,
``${V:?msg}``/``${V?msg}``; single quotes are literal, double quotes allow expansion, the
escape character (``\\`` or the ``escape`` directive's) quotes the next character. Which
instructions expand and which variables they see (ARG/ENV scoping) is ``builder.py``'s
business; this module only knows words.

Layer 5 (build). May import: errors.
"""

from __future__ import annotations

from collections.abc import Mapping

from hako.errors import InvalidArgument

_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_CHARS = _NAME_START + "0123456789"


class _Lexer:
    """One pass over a word; collects words (split on unquoted whitespace) when asked."""

    def __init__(self, text: str, env: Mapping[str, str], escape: str, split: bool) -> None:
        self.s, self.i, self.env, self.esc, self.split = text, 0, env, escape, split
        self.words: list[str] = []
        self.cur: list[str] = []
        self.in_word = False

    # -- output ----------------------------------------------------------------------------
    def _add(self, text: str, raw: bool) -> None:
        """Append text; unquoted expansion results are split on whitespace when splitting."""
        if not self.split or not raw:
            self.cur.append(text)
            self.in_word = self.in_word or bool(text) or not raw
            return
        for ch in text:
            if ch.isspace():
                self._flush()
            else:
                self.cur.append(ch)
                self.in_word = True

    def _flush(self) -> None:
        if self.in_word:
            self.words.append("".join(self.cur))
        self.cur, self.in_word = [], False

    # -- lexing ----------------------------------------------------------------------------
    def run(self, stop: str = "") -> str:
        """Process up to ``stop`` (a closing brace inside ``${...}``) or the end."""
        out: list[str] = []
        while self.i < len(self.s):
            ch = self.s[self.i]
            if stop and ch in stop:
                break
            if ch == "'":
                piece, raw = self._single(), False
            elif ch == '"':
                piece, raw = self._double(), False
            elif ch == "$":
                piece, raw = self._dollar(), True
            elif ch == self.esc:
                self.i += 1
                if self.i >= len(self.s):
                    piece = self.esc
                else:
                    piece = self.s[self.i]
                    self.i += 1
                raw = False
            else:
                self.i += 1
                if self.split and not stop and ch.isspace():
                    self._flush()
                    continue
                piece, raw = ch, False
            out.append(piece)
            if not stop:
                self._add(piece, raw)
        return "".join(out)

    def _single(self) -> str:
        end = self.s.find("'", self.i + 1)
        if end < 0:
            raise InvalidArgument("unexpected end of statement while looking for matching single-quote")
        text = self.s[self.i + 1 : end]
        self.i = end + 1
        return text

    def _double(self) -> str:
        self.i += 1
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise InvalidArgument("unexpected end of statement while looking for matching double-quote")
            ch = self.s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            if ch == self.esc and self.i + 1 < len(self.s) and self.s[self.i + 1] in ('"', "$", self.esc):
                out.append(self.s[self.i + 1])
                self.i += 2
                continue
            out.append(ch)
            self.i += 1

    def _dollar(self) -> str:
        self.i += 1
        if self.i >= len(self.s):
            return "$"
        ch = self.s[self.i]
        if ch == "{":
            self.i += 1
            return self._braced()
        if ch in _NAME_START:
            name = self._name()
            return self.env.get(name, "")
        return "$"

    def _name(self) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _NAME_CHARS:
            self.i += 1
        return self.s[start : self.i]

    def _braced(self) -> str:
        name = self._name()
        if not name:
            raise InvalidArgument(f"bad substitution: {self.s}")
        if self.i >= len(self.s):
            raise InvalidArgument(f"missing '}}' in {self.s}")
        ch = self.s[self.i]
        if ch == "}":
            self.i += 1
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            self.i += 1
            ch = self.s[self.i] if self.i < len(self.s) else ""
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({ch}) in substitution: {self.s}")
        self.i += 1
        sub = _Lexer(self.s, self.env, self.esc, False)
        sub.i = self.i
        word = sub.run(stop="}")
        self.i = sub.i
        if self.i >= len(self.s):
            raise InvalidArgument(f"missing '}}' in {self.s}")
        self.i += 1
        present = name in self.env and (not colon or self.env[name] != "")
        if ch == "-":
            return self.env[name] if present else word
        if ch == "+":
            return word if present else ""
        if not present:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return self.env[name]


def expand_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word with quotes removed and variables substituted (BuildKit's ProcessWord).

    Raises:
        InvalidArgument: unterminated quote, bad substitution, ``${V?msg}`` with V unset.
    """
    return _Lexer(word, env, escape, split=False).run()


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Words of ``text`` split on unquoted whitespace, expanded (BuildKit's ProcessWords).

    Raises:
        InvalidArgument: as :func:`expand_word`.
    """
    lex = _Lexer(text, env, escape, split=True)
    lex.run()
    lex._flush()
    return lex.words


def env_map(env_list: list[str] | None) -> dict[str, str]:
    """``["K=V", ...]`` → dict (later entries win)."""
    out: dict[str, str] = {}
    for item in env_list or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def set_env(env_list: list[str] | None, key: str, value: str) -> list[str]:
    """Replace or append ``key=value`` in a Docker env list, keeping the order."""
    out, done = [], False
    for item in env_list or []:
        if item.partition("=")[0] == key:
            if not done:
                out.append(f"{key}={value}")
                done = True
            continue
        out.append(item)
    if not done:
        out.append(f"{key}={value}")
    return out
