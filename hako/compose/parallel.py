"""Bounded parallel execution in dependency order.

``run_levels(levels, fn)`` runs ``fn(name)`` for every name of a level at once (at most
``limit`` threads), level after level; when something fails the remaining levels are
skipped (their services depend on what failed) and the first error is raised after the
running level has finished, so nothing is left half done behind the caller's back.

May import: nothing internal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_all(items: Iterable[T], fn: Callable[[T], Any], limit: int = 8) -> list[Any]:
    """``fn`` over ``items`` in parallel; results in order.

    Raises:
        The first exception any call raised (after all calls have finished).
    """
    items = list(items)
    if len(items) <= 1 or limit == 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        futures = [pool.submit(fn, i) for i in items]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return [f.result() for f in futures]


def run_levels(levels: Iterable[Iterable[T]], fn: Callable[[T], Any], limit: int = 8) -> None:
    """Run each level in parallel, in order; stop at the first failing level."""
    for level in levels:
        run_all(level, fn, limit)
