"""What ``hako compose`` prints: progress lines, tables, and prefixed, coloured logs.

Progress is compose v2's plain form (`` Container demo-web-1  Started``) on stderr. Logs
of several containers are interleaved line by line, each prefixed with the container's
name without the project (``web-1  | ``), coloured like compose when stdout is a TTY.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, TextIO

_COLORS = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]


class Progress:
    """Thread-safe plain progress lines."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()

    def __call__(self, kind: str, name: str, status: str) -> None:
        with self.lock:
            self.out.write(f" {kind} {name}  {status}\n")
            self.out.flush()


_DONE = {"Created", "Started", "Running", "Removed", "Stopped", "Healthy", "Pulled", "Built",
         "Recreated", "Exited", "Killed", "Paused", "Unpaused"}


class TtyProgress:
    """compose's live display under a TTY: a ``[+] Running k/n`` header and one line per
    resource, redrawn in place (cursor up, clear line) at every event."""

    def __init__(self, out: TextIO, clock: Callable[[], float] | None = None) -> None:
        import time

        self.out = out
        self.clock = clock or time.monotonic
        self.lock = threading.Lock()
        self.rows: dict[tuple[str, str], list] = {}  # (kind, name) → [status, start, end]
        self.drawn = 0

    def __call__(self, kind: str, name: str, status: str) -> None:
        with self.lock:
            now = self.clock()
            row = self.rows.setdefault((kind, name), [status, now, None])
            row[0], row[2] = status, (now if status in _DONE else None)
            self._draw(now)

    def _draw(self, now: float) -> None:
        done = sum(1 for r in self.rows.values() if r[2] is not None)
        lines = [f"[+] Running {done}/{len(self.rows)}"]
        width = max(len(f"{k} {n}") for k, n in self.rows)
        for (kind, name), (status, start, end) in self.rows.items():
            mark = "\u2714" if end is not None else "\u283f"
            label = f"{kind} {name}".ljust(width)
            lines.append(f" {mark} {label}  {status:<10} {(end or now) - start:.1f}s")
        text = (f"\x1b[{self.drawn}A" if self.drawn else "") + \
            "".join(f"\x1b[2K{line}\n" for line in lines)
        self.drawn = len(lines)
        self.out.write(text)
        self.out.flush()


def table(headers: list[str], rows: Iterable[list[str]]) -> str:
    """A docker-style table: columns padded to the widest cell plus three spaces."""
    rows = [headers] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    return "".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n"
                   for r in rows)


def use_color(ctx: Any) -> bool:
    ansi = getattr(getattr(ctx, "compose", None), "ansi", "auto")
    if ansi == "never" or ctx.environ.get("NO_COLOR"):
        return False
    if ansi == "always":
        return True
    try:
        return os.isatty(ctx.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False


class LogPrinter:
    """Interleaves log lines of several containers with aligned, coloured prefixes."""

    def __init__(self, out: TextIO, names: list[str], color: bool, prefix: bool = True,
                 timestamps: bool = False) -> None:
        self.out = out
        self.width = max((len(n) for n in names), default=0)
        self.color = color
        self.prefix = prefix
        self.colors: dict[str, str] = {}
        self.lock = threading.Lock()
        for n in names:
            self._color_of(n)

    def _color_of(self, name: str) -> str:
        if name not in self.colors:
            self.colors[name] = _COLORS[len(self.colors) % len(_COLORS)]
        return self.colors[name]

    def head(self, name: str) -> str:
        if not self.prefix:
            return ""
        text = f"{name.ljust(self.width)}  | "
        return f"\x1b[{self._color_of(name)}m{text}\x1b[0m" if self.color else text

    def line(self, name: str, text: str) -> None:
        with self.lock:
            self.out.write(self.head(name) + text + ("" if text.endswith("\n") else "\n"))
            self.out.flush()

    def note(self, name: str, text: str) -> None:
        """A line about a container (``web-1 exited with code 0``), coloured, no bar."""
        with self.lock:
            msg = f"{name} {text}"
            self.out.write((f"\x1b[{self._color_of(name)}m{msg}\x1b[0m" if self.color
                            else msg) + "\n")
            self.out.flush()


def stream_logs(api: Any, cid: str, name: str, printer: LogPrinter, follow: bool,
                tail: str = "all", timestamps: bool = False, since: str | None = None,
                until: str | None = None, on_end: Callable[[], None] | None = None) -> None:
    """Copy one container's log to the printer, line by line (blocks until it ends)."""
    from hako.client.streams import FrameDecoder

    info = api.containers.inspect(cid)
    tty = bool((info.get("Config") or {}).get("Tty"))
    resp = api.containers.logs(cid, stdout=True, stderr=True, follow=follow or None,
                               tail=tail, timestamps=timestamps or None, since=since,
                               until=until)
    decoder = FrameDecoder()
    partial = {1: b"", 2: b""}
    try:
        for chunk in resp.iter_chunks():
            frames = [(1, chunk)] if tty else decoder.feed(chunk)
            for stream, payload in frames:
                key = 2 if stream == 2 else 1
                data = partial[key] + payload
                *lines, partial[key] = data.split(b"\n")
                for ln in lines:
                    printer.line(name, ln.decode("utf-8", "replace").rstrip("\r"))
    except (OSError, ValueError):
        pass
    for rest in partial.values():
        if rest:
            printer.line(name, rest.decode("utf-8", "replace"))
    if on_end:
        on_end()


def short_name(c: dict[str, Any], project: str) -> str:
    """``demo-web-1`` → ``web-1`` (compose's log prefix)."""
    name = (c.get("Names") or [""])[0].lstrip("/")
    return name[len(project) + 1:] if name.startswith(project + "-") else name
