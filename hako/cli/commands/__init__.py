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


def confirm(ctx: Any, warning: str) -> bool:
    """docker's prune prompt: ``warning``, then "Are you sure…? [y/N] "; True on y/yes."""
    ctx.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    ctx.stdout.flush()
    return ctx.stdin.readline().strip().lower() in ("y", "yes")


def print_deleted(ctx: Any, title: str, items: list[str]) -> None:
    """A "Deleted X:" section of a prune report (nothing when empty)."""
    if items:
        ctx.out(f"Deleted {title}:")
        for item in items:
            ctx.out(item)
        ctx.out()
