"""Rendering of JSON-lines progress streams (pull, push, import, load) like the docker CLI.

Without a terminal each status line is printed once (byte-count updates are left out). On a
terminal, each layer gets one live line drawn with rich: its status, a bar, bytes done of the
total and the speed while bytes move; lines about the whole operation (``Digest: …``) are
printed above them. An ``error``/``errorDetail`` message in the stream raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from hako.client.streams import json_lines
from hako.errors import EngineError


class StreamError(EngineError):
    """An error reported inside a progress stream (exit status 1)."""


def _line(msg: dict[str, Any]) -> str:
    parts = []
    if msg.get("id"):
        parts.append(f"{msg['id']}: ")
    parts.append(msg.get("status", ""))
    if msg.get("progress"):
        parts.append(" " + msg["progress"])
    return "".join(parts)


def _check(msg: dict[str, Any]) -> None:
    if msg.get("error") or msg.get("errorDetail"):
        detail = msg.get("errorDetail") or {}
        raise StreamError(detail.get("message") or msg.get("error"))


def render_progress(chunks: Iterable[bytes], out: TextIO, quiet: bool = False) -> list[dict]:
    """Print a progress stream; returns every message.

    Raises:
        StreamError: the stream carried an error message.
    """
    if not quiet and hasattr(out, "isatty") and out.isatty():
        return _render_live(chunks, out)
    messages = []
    for msg in json_lines(chunks):
        messages.append(msg)
        _check(msg)
        if quiet:
            continue
        if "stream" in msg:
            out.write(msg["stream"])
        elif msg.get("progress") or msg.get("progressDetail", {}).get("total"):
            continue  # byte counts: only a terminal shows them
        elif msg.get("status") or msg.get("id"):
            out.write(_line(msg) + "\n")
    out.flush()
    return messages


# statuses after which a layer's bytes are all there (its bar, if it had one, is full)
_DONE = {"Pull complete", "Download complete", "Already exists", "Pushed", "Layer already exists",
         "Mounted from"}  # not "Loading layer": load reports its bytes under that status


def _render_live(chunks: Iterable[bytes], out: TextIO) -> list[dict]:
    """Layer lines live (rich) while they last; other lines in stream order, as docker's."""
    from rich.console import Console

    console = Console(file=out, force_terminal=True, highlight=False, soft_wrap=True)
    live = _LiveLines(console)
    messages: list[dict] = []
    try:
        for msg in json_lines(chunks):
            messages.append(msg)
            _check(msg)
            if "stream" in msg:
                live.close()
                console.print(msg["stream"], end="", markup=False)
            elif msg.get("id") and msg.get("status") and not msg.get("aux"):
                live.update(msg)
            elif msg.get("status") or msg.get("id"):
                live.close()  # the lines above keep their last state; this one goes below
                console.print(_line(msg), markup=False)
    finally:
        live.close()
    out.flush()
    return messages


class _LiveLines:
    """The current group of live per-id lines (a rich Progress), started on demand."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.bars: Any = None
        self.tasks: dict[str, Any] = {}

    def update(self, msg: dict[str, Any]) -> None:
        if self.bars is None:
            from rich.progress import Progress

            self.bars = Progress(*_columns(), console=self.console, refresh_per_second=10)
            self.bars.start()
            self.tasks = {}
        layer, detail = msg["id"], msg.get("progressDetail") or {}
        fields: dict[str, Any] = {"description": f"{layer}: {msg['status']}"}
        if detail.get("total"):
            fields.update(total=detail["total"], completed=detail.get("current") or 0)
        if layer not in self.tasks:
            self.tasks[layer] = self.bars.add_task(fields["description"], total=fields.get("total"))
        task = self.tasks[layer]
        if msg["status"].split(" ")[0] in _DONE_WORDS:
            total = self.bars.tasks[task].total if "total" not in fields else fields["total"]
            if total is not None:
                fields["completed"] = total
        self.bars.update(task, **fields)

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None


_DONE_WORDS = {s.split(" ")[0] for s in _DONE}


def _columns() -> list[Any]:
    from rich.progress import (BarColumn, DownloadColumn, ProgressColumn, TextColumn,
                               TransferSpeedColumn)
    from rich.text import Text

    class _IfBytes(ProgressColumn):
        """A column shown only for a line that counts bytes (its total is known)."""

        def __init__(self, inner: ProgressColumn) -> None:
            super().__init__()
            self.inner = inner

        def render(self, task: Any) -> Any:
            if task.total is None:
                return Text("")
            if task.finished and isinstance(self.inner, TransferSpeedColumn):
                return Text("")
            return self.inner.render(task)

    return [TextColumn("{task.description}", markup=False), _IfBytes(BarColumn(bar_width=40)),
            _IfBytes(DownloadColumn()), _IfBytes(TransferSpeedColumn())]
