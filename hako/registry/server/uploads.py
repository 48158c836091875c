"""Upload sessions' ingest writers, kept open between the requests of a session.

A content ``Writer`` opened on an existing ingest re-reads and re-hashes every byte uploaded
so far (its hash state lives only in memory). A chunked upload of N PATCHes plus the final
PUT would read the blob about N/2 + 1 times over; kept open, each request goes on with the
hash where the last one left it. What is on disk does not change: the ingest is still the
only copy until the PUT verifies and publishes it, and after a restart a writer is simply
opened again (and re-hashes). One request at a time uses a session's writer; at most
``MAX_IDLE`` idle writers stay open (the oldest is closed first).

Layer 4. May import: errors, support, oci, store, registry.protocol.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from hako.store.content import Writer

MAX_IDLE = 32


class InUse(Exception):
    """Another request of the same session holds its writer."""


class OpenWriters:
    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self._lock = threading.Lock()
        self._idle: OrderedDict[str, Writer] = OrderedDict()
        self._busy: set[str] = set()
        self._dropped: set[str] = set()
        self.max_idle = max_idle

    def take(self, ref: str, open_writer: Callable[[str], Writer]) -> Writer:
        """The session's open writer, else a new one (``open_writer(ref)``), now busy.

        Raises:
            InUse: another request holds it. What ``open_writer`` raises.
        """
        with self._lock:
            if ref in self._busy:
                raise InUse(ref)
            writer = self._idle.pop(ref, None)
            self._busy.add(ref)
        if writer is not None:
            return writer
        try:
            return open_writer(ref)
        except BaseException:
            with self._lock:
                self._busy.discard(ref)
            raise

    def give_back(self, ref: str, writer: Writer, keep: bool) -> None:
        """End a request's use: an uncommitted writer stays open for the next one when
        ``keep`` (its buffered bytes flushed, so the ingest's size is its offset)."""
        evicted: list[Writer] = []
        keep = keep and not writer.closed
        if keep:
            try:
                writer.flush()
            except OSError:
                keep = False
        with self._lock:
            self._busy.discard(ref)
            if keep and ref not in self._dropped:
                self._idle[ref] = writer
                while len(self._idle) > self.max_idle:
                    evicted.append(self._idle.popitem(last=False)[1])
            else:
                evicted.append(writer)
            self._dropped.discard(ref)
        for w in evicted:
            w.close()

    def drop(self, ref: str) -> None:
        """Close the session's idle writer; a busy one is closed when given back."""
        with self._lock:
            writer = self._idle.pop(ref, None)
            if ref in self._busy:
                self._dropped.add(ref)
        if writer is not None:
            writer.close()
