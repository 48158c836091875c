"""``hako registry serve ...``: runs the registry server in this process's place.

The CLI never imports the engine (``.importlinter``), so this execs
``python -m hako.registry.server.main`` with the same arguments.
"""

from __future__ import annotations

import os
import sys


def registry(ctx, args: list[str]) -> int:
    argv = [sys.executable, "-m", "hako.registry.server.main", *args]
    for stream in (ctx.stdout, ctx.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os.execv(sys.executable, argv)
    return 0  # not reached
