"""One module per command group; each verb is ``fn(ctx, argv) -> exit code``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hako import errors


def for_each(ctx: Any, refs: Iterable[str], fn: Callable[[str], Any],
             echo: bool = True) -> int:
    """Apply ``fn`` to each ref like docker's batch verbs.

    Prints each ref on success (when ``echo``), each error on stderr, and returns 1 when
    any failed.
    """
    from hako.client.errors import is_daemon_error

    status = 0
    for ref in refs:
        try:
            fn(ref)
        except errors.EngineError as exc:
            status = 1
            ctx.stdout.flush()
            ctx.err(f"Error response from daemon: {exc}" if is_daemon_error(exc)
                    else f"Error: {exc}")
            continue
        if echo:
            ctx.out(ref)
    return status
