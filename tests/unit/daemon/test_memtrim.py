"""hako.daemon.memtrim: an idle hakod trims once after each burst of activity."""

from __future__ import annotations

import asyncio

from hako.daemon import memtrim


class Events:
    published = 0


def test_trims_once_after_activity_settles():
    events, trims = Events(), []

    async def scenario() -> None:
        task = asyncio.ensure_future(memtrim.trim_when_quiet(
            events, check=0.01, quiet=0.05, gap=0.0, trim_fn=lambda: trims.append(events.published)))
        await asyncio.sleep(0.2)
        assert trims == []  # nothing happened since start: nothing to give back
        for _ in range(10):  # busy: an event every check
            events.published += 1
            await asyncio.sleep(0.01)
        busy_trims = len(trims)
        deadline = asyncio.get_running_loop().time() + 5
        while not trims and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        task.cancel()
        assert busy_trims == 0
        assert trims == [10]  # once, after the burst, never again while idle

    asyncio.run(scenario())


def test_glibc_takes_the_arena_limit():
    import platform

    if platform.libc_ver()[0] != "glibc":
        assert not memtrim.limit_arenas()
        return
    assert memtrim.limit_arenas()  # mallopt(M_ARENA_MAX) accepted
    memtrim.trim()


def test_trims_at_most_once_per_gap():
    events, trims = Events(), []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(memtrim.trim_when_quiet(
            events, check=0.01, quiet=0.02, gap=0.5, trim_fn=lambda: trims.append(loop.time())))
        end = loop.time() + 1.2
        while loop.time() < end:  # a burst, a pause, a burst...: an event every 50 ms
            events.published += 1
            await asyncio.sleep(0.05)
        task.cancel()
        assert 1 <= len(trims) <= 3
        assert all(b - a >= 0.5 for a, b in zip(trims, trims[1:]))

    asyncio.run(scenario())
