"""``hako images --tree`` (the seed's ``docker images -t``): local images as the tree of the
layers they share, drawn with rich.

Each image's ``RootFS.Layers`` (diff ids, bottom first) is a path from the root; images that
start with the same layers share those nodes. A node where an image ends carries the image:
its tags (or ``<none>:<none>``), short ID and size. Only the Engine API is used, so it works
against Docker too. On a terminal the tree is drawn with box characters and colour; otherwise
with the same characters and no colour.
"""

from __future__ import annotations

from typing import Any, TextIO

from hako.cli.formatting import familiar, human_size, truncate_id


class _Node:
    __slots__ = ("children", "images")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.images: list[dict[str, Any]] = []


def build(inspected: list[dict[str, Any]]) -> _Node:
    """The layer trie of ``GET /images/{id}/json`` documents."""
    root = _Node()
    for img in inspected:
        node = root
        for layer in (img.get("RootFS") or {}).get("Layers") or []:
            node = node.children.setdefault(layer, _Node())
        node.images.append(img)
    return root


def _image_label(img: dict[str, Any]) -> str:
    tags = [familiar(t) for t in img.get("RepoTags") or [] if t != "<none>:<none>"]
    names = ", ".join(sorted(tags)) or "<none>:<none>"
    return f"{names}  {truncate_id(img.get('Id', ''))}  {human_size(img.get('Size') or 0)}"


def _layer_label(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def render(inspected: list[dict[str, Any]], out: TextIO, tty: bool) -> None:
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    console = Console(file=out, force_terminal=tty, no_color=not tty, highlight=False,
                      width=None if tty else 200, soft_wrap=True)
    trie = build(inspected)
    top = Tree(Text("Images"), guide_style="dim" if tty else "")

    def add(branch: Any, node: _Node) -> None:
        for digest, child in sorted(node.children.items(), key=lambda kv: _first_tag(kv[1])):
            sub = branch.add(Text(_layer_label(digest), style="cyan" if tty else ""))
            for img in child.images:
                sub.add(Text(_image_label(img), style="bold green" if tty else ""))
            add(sub, child)

    for img in trie.images:  # images without layers (scratch)
        top.add(Text(_image_label(img)))
    add(top, trie)
    console.print(top)


def _first_tag(node: _Node) -> str:
    """A stable order for siblings: the smallest tag found below them."""
    best = ""
    stack = [node]
    while stack:
        n = stack.pop()
        for img in n.images:
            for t in img.get("RepoTags") or []:
                if not best or t < best:
                    best = t
        stack.extend(n.children.values())
    return best or "~"


def show(ctx: Any, all_images: bool) -> int:
    """Fetch every local image's layers and draw the tree."""
    items = ctx.api.images.list(all=all_images)
    inspected = [ctx.api.images.inspect(img["Id"]) for img in items]
    tty = hasattr(ctx.stdout, "isatty") and ctx.stdout.isatty()
    render(inspected, ctx.stdout, tty)
    return 0
