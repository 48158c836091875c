"""YAML documents with the line of every key: ``Marks`` maps a key path to (file, line).

Paths are tuples of keys and list indexes (``("services", "web", "ports", 0)``); ``dotted``
prints them as compose does (``services.web.ports.0``). Anchors, aliases and merge keys
(``<<``) are resolved by PyYAML's safe constructor; the walk records a mark for every path a
value is reachable by, explicit keys winning over merged ones.

May import: errors (through .errors).
"""

from __future__ import annotations

import functools
from typing import Any

from hako.compose.errors import ComposeError

Path = tuple[Any, ...]


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


class Marks:
    """Where each key path was written; later files override earlier ones."""

    def __init__(self) -> None:
        self._by_path: dict[Path, tuple[str, int]] = {}

    def add(self, path: Path, file: str, line: int, override: bool = True) -> None:
        if override or path not in self._by_path:
            self._by_path[path] = (file, line)

    def find(self, path: Path) -> tuple[str, int]:
        """The nearest recorded mark of ``path`` or of one of its parents."""
        path = tuple(path)
        while path:
            hit = self._by_path.get(path)
            if hit:
                return hit
            path = path[:-1]
        return self._by_path.get((), ("", 0))

    def error(self, message: str, path: Path, at: Path | None = None) -> ComposeError:
        """An error about ``path``, placed at the line of ``at`` (default: ``path``)."""
        file, line = self.find(path if at is None else at)
        return ComposeError(message, file, line, dotted(path))

    def rebase(self, src: Path, dst: Path, other: "Marks | None" = None) -> None:
        """Copy marks under ``src`` (of ``other`` or self) to live under ``dst``."""
        source = other or self
        for p, mark in list(source._by_path.items()):
            if p[: len(src)] == src:
                self._by_path.setdefault(dst + p[len(src):], mark)

    def update(self, other: "Marks") -> None:
        self._by_path.update(other._by_path)


@functools.lru_cache(maxsize=None)
def _loader_class():
    """A safe loader that resolves plain scalars as YAML 1.2's core schema does (as the
    YAML library of compose v2 does): ``yes``/``no``/``on``/``off`` and dates stay strings,
    ``22:22`` is not a base-60 number; only ``true``/``false`` are booleans."""
    import re

    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        yaml_implicit_resolvers: dict = {}

    rules = [
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                  r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
        ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("merge", r"^(?:<<)$", "<"),
    ]
    for tag, pattern, first in rules:
        Loader.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", re.compile(pattern),
                                     list(first))
    return yaml, Loader


def load(text: str, file: str, marks: Marks) -> Any:
    """Parse one YAML document, recording marks.

    Raises:
        ComposeError: a YAML syntax error (with its line), or a duplicate key.
    """
    yaml, loader_cls = _loader_class()
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _walk(node, (), file, marks, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ComposeError(f"yaml: {exc.problem or exc}", file, line) from exc
    except yaml.YAMLError as exc:
        raise ComposeError(f"yaml: {exc}", file) from exc
    finally:
        loader.dispose()


def _walk(node: Any, path: Path, file: str, marks: Marks, active: set[int]) -> None:
    import yaml

    marks.add(path, file, node.start_mark.line + 1, override=False)
    if id(node) in active:  # a recursive alias
        raise ComposeError("yaml: recursive alias", file, node.start_mark.line + 1)
    active = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        merged = []
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                merged.append(vnode)
                continue
            key = knode.value
            if key in seen:
                raise ComposeError(f"yaml: mapping key {key!r} already defined",
                                   file, knode.start_mark.line + 1, dotted(path))
            seen.add(key)
            marks.add(path + (key,), file, knode.start_mark.line + 1)
            _walk(vnode, path + (key,), file, marks, active)
        for m in merged:
            for sub in (m.value if isinstance(m, yaml.SequenceNode) else [m]):
                for knode, vnode in getattr(sub, "value", []):
                    if knode.value not in seen:
                        marks.add(path + (knode.value,), file, knode.start_mark.line + 1,
                                  override=False)
                        _walk(vnode, path + (knode.value,), file, marks, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), file, marks, active)
