"""Leases: blobs an in-flight pull or push is writing or about to reference.

A pull downloads layer blobs before any image references them; while its lease is held,
``rmi``/prune (``image.remove``) and garbage collection (``store.gc``, ``leased=``) leave
those digests alone. Leases live in memory: a restarted daemon has no pull in flight, and
its start-up collection sweeps what an interrupted pull left.

Layer 3. May import: errors, support.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator


class Lease:
    def __init__(self, manager: "LeaseManager") -> None:
        self._manager = manager
        self.digests: list[str] = []

    def add(self, digest: object) -> None:
        """Protect ``digest`` until the lease ends."""
        with self._manager._lock:
            self.digests.append(str(digest))
            self._manager._held[str(digest)] += 1


class LeaseManager:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    @contextlib.contextmanager
    def lease(self) -> Iterator[Lease]:
        lease = Lease(self)
        try:
            yield lease
        finally:
            with self._lock:
                self._held.subtract(lease.digests)
                self._held += Counter()

    def held(self, digest: object) -> bool:
        with self._lock:
            return self._held[str(digest)] > 0

    def snapshot(self) -> set[str]:
        with self._lock:
            return set(self._held)
