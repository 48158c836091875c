"""A subset of Go's text/template, as used by ``--format`` and ``inspect -f``.

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming; fields ``.A.B`` on
dicts (a missing key is an error, as with docker's ``missingkey=error``; a field of null is
``<no value>``), ``$`` and ``$var`` (``$x := …``); pipelines with ``|``;
parenthesised pipelines; string, raw-string, number and bool literals; ``if``/``else``/
``else if``/``with``/``range`` (lists and dicts, ``$k, $v :=``)/``end``; functions
``json index join split len lower upper title printf print println eq ne lt le gt ge and or
not pad truncate``. Values print like Go's ``fmt.Sprint`` (lists as ``[a b]``, dicts as
``map[k:v]``).

Usage: ``Template(text).render(data)``; parse errors raise :class:`TemplateError` with
``template: …`` texts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hako.errors import InvalidArgument

NO_VALUE = object()


class TemplateError(InvalidArgument):
    """Parse or execution error of a template."""


class TemplateParseError(TemplateError):
    """The template text does not parse."""


# -- lexing -------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<decl>:=)
  | (?P<pipe>\|)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<comma>,)
  | (?P<field>(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z0-9_]+)+|\$[A-Za-z0-9_]*|\.)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)


def _split(text: str) -> list[tuple[str, str]]:
    """Template text → [("text", s) | ("action", s)] with trim markers applied."""
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            parts.append(("text", text[pos:]))
            return parts
        chunk = text[pos:start]
        end = text.find("}}", start)
        if end < 0:
            raise TemplateParseError('template: :1: unclosed action')
        inner = text[start + 2 : end]
        if inner.startswith("- ") or inner == "-":
            chunk = chunk.rstrip()
            inner = inner[1:]
        pos = end + 2
        if inner.endswith(" -"):
            inner = inner[:-1]
            m = re.match(r"\s*", text[pos:])
            pos += m.end() if m else 0
        parts.append(("text", chunk))
        if not inner.strip().startswith("/*"):
            parts.append(("action", inner.strip()))


def _tokens(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise TemplateParseError(f"template: :1: unexpected {src[pos]!r} in command")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


# -- parsing into a tree ------------------------------------------------------------------

class _Node:
    def __init__(self, kind: str, **kw: Any) -> None:
        self.kind = kind
        self.__dict__.update(kw)


def _parse_pipeline(toks: list[tuple[str, str]]) -> _Node:
    decl: list[str] = []
    if len(toks) >= 2 and toks[0][0] == "field" and toks[0][1].startswith("$"):
        if toks[1][0] == "decl":
            decl, toks = [toks[0][1]], toks[2:]
        elif toks[1][0] == "comma" and len(toks) > 3 and toks[3][0] == "decl":
            decl, toks = [toks[0][1], toks[2][1]], toks[4:]
    cmds, cur, depth, i = [], [], 0, 0
    while i < len(toks):
        kind, val = toks[i]
        if kind == "lp":
            j, depth = i + 1, 1
            while j < len(toks) and depth:
                depth += {"lp": 1, "rp": -1}.get(toks[j][0], 0)
                j += 1
            if depth:
                raise TemplateParseError("template: :1: unclosed left paren")
            sub = _Node("sub", pipe=_parse_pipeline(toks[i + 1 : j - 1]), fields=[])
            if j < len(toks) and toks[j][0] == "field" and toks[j][1].startswith("."):
                sub.fields = [f for f in toks[j][1].split(".") if f]
                j += 1
            cur.append(sub)
            i = j
            continue
        if kind == "pipe":
            cmds.append(cur)
            cur = []
        else:
            cur.append(_Node(kind, value=val))
        i += 1
    cmds.append(cur)
    if any(not c for c in cmds):
        raise TemplateParseError("template: :1: missing value for command")
    return _Node("pipeline", decl=decl, cmds=cmds)


def _parse(parts: list[tuple[str, str]]) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[_Node, list[_Node]]] = []
    body = root
    for kind, text in parts:
        if kind == "text":
            if text:
                body.append(_Node("text", value=text))
            continue
        word = text.split(None, 1)[0] if text else ""
        rest = text[len(word):].strip()
        if word in ("if", "range", "with"):
            node = _Node(word, pipe=_parse_pipeline(_tokens(rest)), body=[], else_=[])
            body.append(node)
            stack.append((node, body))
            body = node.body
        elif word == "else":
            if not stack:
                raise TemplateParseError("template: :1: unexpected {{else}}")
            node, _outer = stack[-1]
            if rest.split(None, 1)[:1] in (["if"], ["with"]):
                w2 = rest.split(None, 1)[0]
                inner = _Node(w2, pipe=_parse_pipeline(_tokens(rest[len(w2):])), body=[],
                              else_=[], chained=True)
                node.else_.append(inner)
                stack.append((inner, node.else_))
                body = inner.body
            else:
                body = node.else_
        elif word == "end":
            if not stack:
                raise TemplateParseError("template: :1: unexpected {{end}}")
            node, body = stack.pop()
            while getattr(node, "chained", False):
                node, body = stack.pop()
        else:
            body.append(_Node("action", pipe=_parse_pipeline(_tokens(text))))
    if stack:
        raise TemplateParseError("template: :1: unexpected EOF")
    return root


# -- values -------------------------------------------------------------------------------

def go_str(value: Any) -> str:
    """Format like Go's fmt.Sprint for JSON-shaped values."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_json(value: Any) -> str:
    """json.Marshal: compact, with Go's HTML escaping."""
    if value is NO_VALUE:
        value = None
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def truthy(value: Any) -> bool:
    return value not in (None, NO_VALUE, False, 0, "") and not (
        isinstance(value, (list, dict)) and not value)


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _printf(fmt: str, *args: Any) -> str:
    it = iter(args)

    def repl(m: re.Match) -> str:
        flags, verb = m.group(1), m.group(2)
        if verb == "%":
            return "%"
        arg = next(it, NO_VALUE)
        if verb == "q":
            text = _go_quote(go_str(arg))
        elif verb == "d":
            text = str(int(arg))
        elif verb in "xX":
            text = format(int(arg), verb) if isinstance(arg, int) else str(arg).encode().hex()
        elif verb in "fge":
            return ("%" + flags + verb) % float(arg)
        else:
            text = go_str(arg)
        return ("%" + flags + "s") % text if flags else text
    return re.sub(r"%([-+# 0]*\d*(?:\.\d+)?)([a-zA-Z%])", repl, fmt)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, NO_VALUE)
        elif isinstance(value, (list, str)):
            try:
                value = value[int(key)]
            except (IndexError, ValueError) as exc:
                raise TemplateError(f"error calling index: index out of range: {key}") from exc
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(value)}")
    return value


def _cmp(op):
    def f(a, *bs):
        if op == "eq":
            return any(a == b for b in bs)
        b = bs[0]
        return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    return f


def _and(*a):
    for v in a:
        if not truthy(v):
            return v
    return a[-1]


def _or(*a):
    for v in a:
        if truthy(v):
            return v
    return a[-1]


FUNCS = {
    "json": go_json,
    "index": _index,
    "join": lambda items, sep: sep.join(go_str(i) for i in (items or [])),
    "split": lambda s, sep: s.split(sep),
    "len": lambda v: len(v) if v not in (None, NO_VALUE) else 0,
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: re.sub(r"\b\w", lambda m: m.group().upper(), go_str(s)),
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "not": lambda v: not truthy(v),
    "and": _and,
    "or": _or,
    "pad": lambda s, left, right: " " * int(left) + go_str(s) + " " * int(right),
    "truncate": lambda s, n: go_str(s)[: int(n)],
    **{op: _cmp(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
}


# -- execution ----------------------------------------------------------------------------

class Template:
    """A parsed template. ``render(data)`` returns the output text.

    Raises (constructor):
        TemplateError: the template does not parse.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = _parse(_split(text))

    def render(self, data: Any) -> str:
        out: list[str] = []
        self._exec(self.nodes, data, {"$": data}, out)
        return "".join(out)

    def _exec(self, nodes: list[_Node], dot: Any, vars_: dict, out: list[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.value)
            elif node.kind == "action":
                value = self._pipe(node.pipe, dot, vars_)
                if not node.pipe.decl:
                    out.append(go_str(value))
            elif node.kind in ("if", "with"):
                value = self._pipe(node.pipe, dot, vars_)
                if truthy(value):
                    self._exec(node.body, value if node.kind == "with" else dot, vars_, out)
                else:
                    self._exec(node.else_, dot, vars_, out)
            elif node.kind == "range":
                self._range(node, dot, vars_, out)

    def _range(self, node: _Node, dot: Any, vars_: dict, out: list[str]) -> None:
        value = self._pipe(node.pipe, dot, vars_, declare=False)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value in (None, NO_VALUE):
            items = []
        else:
            raise TemplateError(f"template: range can't iterate over {go_str(value)}")
        if not items:
            self._exec(node.else_, dot, vars_, out)
            return
        decl = node.pipe.decl
        for key, elem in items:
            scope = dict(vars_)
            if len(decl) == 2:
                scope[decl[0]], scope[decl[1]] = key, elem
            elif len(decl) == 1:
                scope[decl[0]] = elem
            self._exec(node.body, elem, scope, out)

    def _pipe(self, pipe: _Node, dot: Any, vars_: dict, declare: bool = True) -> Any:
        value: Any = NO_VALUE
        first = True
        for cmd in pipe.cmds:
            value = self._cmd(cmd, dot, vars_, None if first else value)
            first = False
        if declare and pipe.decl:
            vars_[pipe.decl[0]] = value
        return value

    def _cmd(self, cmd: list[_Node], dot: Any, vars_: dict, piped: Any) -> Any:
        head = cmd[0]
        if head.kind == "ident" and head.value not in ("true", "false", "nil"):
            fn = FUNCS.get(head.value)
            if fn is None:
                raise TemplateError(
                    f'template: :1: function "{head.value}" not defined')
            args = [self._operand(a, dot, vars_) for a in cmd[1:]]
            if piped is not None:
                args.append(piped)
            try:
                return fn(*args)
            except TypeError as exc:
                raise TemplateError(
                    f"template: :1: wrong number of args for {head.value}") from exc
        if len(cmd) > 1 or piped is not None:
            raise TemplateError(f"template: :1: can't give argument to non-function {head.value}")
        return self._operand(head, dot, vars_)

    def _operand(self, node: _Node, dot: Any, vars_: dict) -> Any:
        if node.kind == "sub":
            return _fields(self._pipe(node.pipe, dot, vars_), node.fields)
        kind, val = node.kind, node.value
        if kind == "str":
            return json.loads(val)
        if kind == "raw":
            return val[1:-1]
        if kind == "num":
            return float(val) if "." in val else int(val)
        if kind == "ident":
            return {"true": True, "false": False, "nil": None}[val]
        if kind == "field":
            if val.startswith("$"):
                name, _, path = val.partition(".")
                if name not in vars_:
                    raise TemplateError(f'template: :1: undefined variable "{name}"')
                return _fields(vars_[name], [p for p in path.split(".") if p])
            return _fields(dot, [p for p in val.split(".") if p])
        raise TemplateError(f"template: :1: unexpected {val}")


def _fields(value: Any, names: list[str]) -> Any:
    for name in names:
        if isinstance(value, dict):
            if name not in value:
                raise TemplateError(f'template: :1: executing "" at <.{name}>: map has no '
                                    f'entry for key "{name}"')
            value = value[name]
        elif value in (None, NO_VALUE):
            return NO_VALUE
        else:
            raise TemplateError(
                f"template: :1: can't evaluate field {name} in type {type(value).__name__}")
    return value
