"""Event bus: container (and later image, network, volume) events, fed to GET /events.

``publish`` may be called from any thread (create and the builder's steps run in executor
threads): the history is guarded by a lock and each subscriber's queue is only ever touched
on its own event loop, through ``call_soon_threadsafe`` when the publisher is elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from typing import Any, AsyncIterator


HISTORY = 256  # moby's eventsLimit (daemon/events/events.go); about 1 KiB of memory each


class EventBus:
    """Keeps the last ``HISTORY`` events and fans new ones out to subscribers."""

    def __init__(self) -> None:
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self._subscribers: dict[asyncio.Queue, asyncio.AbstractEventLoop] = {}
        self._lock = threading.Lock()
        self.published = 0  # events published so far (memtrim watches it for activity)

    def publish(self, kind: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
        """Record an event and hand it to every subscriber (thread-safe)."""
        with self._lock:  # time and append together: the history stays in time order
            ns = time.time_ns()
            event = {"Type": kind, "Action": action, "Actor": {"ID": actor_id, "Attributes": attributes},
                     "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
            if kind == "container":
                event.update({"status": action, "id": actor_id, "from": attributes.get("image", "")})
            self._history.append(event)
            self.published += 1
            subscribers = list(self._subscribers.items())
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for q, loop in subscribers:
            if loop is current:
                q.put_nowait(event)
            else:
                try:
                    loop.call_soon_threadsafe(q.put_nowait, event)
                except RuntimeError:  # that loop is closed: its subscriber is gone
                    pass

    def history(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._history)

    def container(self, c: Any, action: str, **attrs: Any) -> None:
        attributes = dict(c.config.get("Labels") or {})
        attributes.update({"image": c.image_ref, "name": c.name})
        attributes.update({k: str(v) for k, v in attrs.items()})
        self.publish("container", action, c.id, attributes)

    async def stream(self, filters: dict[str, list[str]], since: str | None,
                     until: str | None) -> AsyncIterator[bytes]:
        """JSON lines of past events (since) and live ones, until ``until`` or disconnect."""
        q: asyncio.Queue = asyncio.Queue()
        with self._lock:
            self._subscribers[q] = asyncio.get_running_loop()
        try:
            yield b""
            start = float(since) if since else None
            end = float(until) if until else None
            if start is not None:
                for ev in self.history():
                    if ev["timeNano"] / 1e9 >= start and (end is None or ev["timeNano"] / 1e9 <= end):
                        if _match(ev, filters):
                            yield json.dumps(ev).encode() + b"\n"
            while True:
                timeout = None if end is None else max(0.0, end - time.time())
                try:
                    ev = await asyncio.wait_for(q.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if _match(ev, filters):
                    yield json.dumps(ev).encode() + b"\n"
        finally:
            with self._lock:
                self._subscribers.pop(q, None)


def _match(ev: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    attrs = ev["Actor"]["Attributes"]
    for key, values in filters.items():
        if key == "type" and ev["Type"] not in values:
            return False
        if key == "event" and not _match_action(ev["Action"], values):
            return False
        if key == "container" and ev["Actor"]["ID"] not in values and attrs.get("name") not in values \
                and not any(ev["Actor"]["ID"].startswith(v) for v in values):
            return False
        if key == "image" and attrs.get("image") not in values:
            return False
        if key == "label":
            for item in values:
                k, eq, v = item.partition("=")
                if k not in attrs or (eq and attrs[k] != v):
                    return False
    return True


_FUZZY_ACTIONS = {"health_status", "exec_create", "exec_start"}


def _match_action(action: str, values: list[str]) -> bool:
    """moby's matchEvent: ``health_status`` (or ``exec_create``, ``exec_start``) among the
    values makes every value a prefix match (``health_status: healthy`` is such an event)."""
    if action in values:
        return True
    return bool(_FUZZY_ACTIONS.intersection(values)) and any(action.startswith(v) for v in values)
