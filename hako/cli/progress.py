"""Rendering of JSON-lines progress streams (pull, import, load) like the docker CLI.

Without a terminal each status line is printed once; on a terminal, per-layer lines are
updated in place. An ``error``/``errorDetail`` message in the stream raises.
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


def render_progress(chunks: Iterable[bytes], out: TextIO, quiet: bool = False) -> list[dict]:
    """Print a progress stream; returns every message.

    Raises:
        StreamError: the stream carried an error message.
    """
    messages = []
    tty = hasattr(out, "isatty") and out.isatty()
    ids: list[str] = []
    for msg in json_lines(chunks):
        messages.append(msg)
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise StreamError(detail.get("message") or msg.get("error"))
        if quiet:
            continue
        if "stream" in msg:
            out.write(msg["stream"])
            continue
        if tty and msg.get("id"):
            if msg["id"] not in ids:
                ids.append(msg["id"])
                out.write(_line(msg) + "\n")
            else:
                up = len(ids) - ids.index(msg["id"])
                out.write(f"\x1b[{up}A\x1b[2K\r{_line(msg)}\n\x1b[{up - 1}B" if up > 1
                          else f"\x1b[1A\x1b[2K\r{_line(msg)}\n")
        elif msg.get("progress") and not tty:
            continue
        elif msg.get("status") or msg.get("id"):
            out.write(_line(msg) + "\n")
    out.flush()
    return messages
