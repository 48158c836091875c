"""The ending of a forked child that must never return into its parent's code.

Layer: runtime (3). May import: nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn


def run_and_exit(body: Callable[[], int], what: str) -> NoReturn:  # pragma: no cover - forked
    """Run ``body`` in a forked child, then leave with its exit status through ``os._exit``:
    never back into the parent's code (its loop, its ``finally`` blocks), nor its atexit
    handlers or buffered streams. An exception is one line ``WHAT: EXC`` on stderr and
    status 1.
    """
    code = 1
    try:
        code = body()
    except BaseException as exc:  # noqa: BLE001 - one line on stderr, never the parent's code
        try:
            os.write(2, f"{what}: {exc!r}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)
