"""bench/memory.py's resident_once: the pages of a group of processes, each counted once."""

from __future__ import annotations

import os
import signal

import pytest

from bench import memory

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="page frame numbers in pagemap need root")

MIB = 1024 * 1024


def _child_sharing_pages() -> int:
    """A forked child that maps (copy-on-write) every page this process has, and waits."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        os.write(w, b"x")
        signal.pause()
        os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    return pid


def test_one_process_is_its_rss():
    rss, _ = memory.rollup(os.getpid())
    once = memory.resident_once([os.getpid()])
    assert once is not None
    assert abs(once - rss) < 2 * MIB  # the walk itself allocates a little


def test_shared_pages_are_counted_once():
    ballast = bytearray(os.urandom(8 * MIB))  # resident in this process, shared by the fork
    pid = _child_sharing_pages()
    try:
        rss_self, _ = memory.rollup(os.getpid())
        rss_child, _ = memory.rollup(pid)
        both = memory.resident_once([os.getpid(), pid])
        assert both is not None
        # the child's pages are this process's frames: the group is about one process, not two
        assert both < rss_self + rss_child - 6 * MIB
        assert both >= max(rss_self, rss_child) - 2 * MIB
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    del ballast


def test_a_gone_process_gives_none():
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os._exit(0)
    os.waitpid(pid, 0)
    assert memory.resident_once([pid]) is None
