"""Turn a function that writes to a file object into an iterator of byte chunks.

The writer runs in a helper thread with a bounded queue (back-pressure); when the consumer
stops early the writer is cancelled and its cleanup runs. Layer 4. May import: nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_DONE = object()


class _Pipe:
    def __init__(self, q: queue.Queue, cancel: threading.Event) -> None:
        self.q = q
        self.cancel = cancel

    def write(self, data: bytes) -> int:
        if self.cancel.is_set():
            raise BrokenPipeError("stream cancelled")
        if data:
            self.q.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def threaded_stream(write: Callable[[Any], None], name: str = "hako-stream") -> Iterator[bytes]:
    """Run ``write(fileobj)`` in a thread and yield what it writes.

    Errors raised by ``write`` are re-raised by the iterator after the data written so far.
    """
    q: queue.Queue = queue.Queue(maxsize=64)
    cancel = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            write(_Pipe(q, cancel))
        except BaseException as exc:  # handed to the consumer
            errors.append(exc)
        finally:
            q.put(_DONE)

    thread = threading.Thread(target=work, name=name, daemon=True)

    def gen() -> Iterator[bytes]:
        # started on the first ``next``: a stream closed before it (its answer never sent)
        # leaves no thread blocked on the full queue
        thread.start()
        finished = False
        try:
            while True:
                item = q.get()
                if item is _DONE:
                    finished = True
                    break
                yield item
        finally:
            if not finished:
                cancel.set()
                while q.get() is not _DONE:
                    pass
            thread.join()
        if errors and not isinstance(errors[0], BrokenPipeError):
            raise errors[0]

    return gen()
