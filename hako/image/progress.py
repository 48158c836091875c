"""Typed progress events of pulls and pushes; the daemon renders them as Docker's JSON lines.

``Progress(id, status)`` is one line of a layer (``Downloading`` with current/total,
``Pull complete``...); ``id=""`` is a line about the whole operation (``Digest: ...``).
``aux`` carries push results (``{"Tag", "Digest", "Size"}``). Layer 4. May import: nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Progress:
    status: str
    id: str = ""
    current: int | None = None
    total: int | None = None
    detail: bool = True  # carries a (possibly empty) progressDetail object
    aux: dict[str, Any] | None = field(default=None)


Emit = Callable[[Progress], None]


def discard(_: Progress) -> None:
    pass


class Throttle:
    """Emits byte-count progress at most every ``interval`` seconds (and at the end)."""

    def __init__(self, emit: Emit, status: str, layer_id: str, total: int,
                 interval: float = 0.1) -> None:
        self.emit, self.status, self.id, self.total = emit, status, layer_id, total
        self.interval = interval
        self._last = 0.0

    def __call__(self, current: int) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval or current >= self.total:
            self._last = now
            self.emit(Progress(self.status, self.id, current, self.total))
