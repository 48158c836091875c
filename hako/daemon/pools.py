"""The daemon's thread pools, and why there are three.

- **blocking** (the loop's default executor, ``BLOCKING_THREADS``): short blocking steps of
  requests and of the container service: rootfs mounts, bundle writes, shim spawns, record
  writes with fsync, image store calls. Nothing running here may wait for the event loop.
- **build** (``build_executor()``): one thread per running build's step loop. A build thread
  waits for the loop (its RUN containers start and are awaited there), and the loop's start
  needs a blocking thread; with both in one pool, as many builds as threads held every thread
  and waited for a free one: the daemon hung. Builds beyond ``BUILD_THREADS`` queue here
  without taking anything from the blocking pool.
- **stream** (``hako.daemon.api.server._stream_executor``): sync iterators of streamed
  responses (``logs --follow``, export), which block as long as their container runs.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

BLOCKING_THREADS = 64
BUILD_THREADS = 32

_build_pool: ThreadPoolExecutor | None = None
_build_lock = threading.Lock()


def install_blocking_executor(loop: asyncio.AbstractEventLoop) -> ThreadPoolExecutor:
    """Make the loop's default executor the daemon's blocking pool."""
    pool = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="hako-blocking")
    loop.set_default_executor(pool)
    return pool


def build_executor() -> ThreadPoolExecutor:
    """The pool that runs build step loops (never the loop's default executor)."""
    global _build_pool
    with _build_lock:
        if _build_pool is None:
            _build_pool = ThreadPoolExecutor(BUILD_THREADS, thread_name_prefix="hako-build")
        return _build_pool
