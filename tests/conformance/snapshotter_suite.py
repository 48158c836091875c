"""Snapshotter conformance checks, run against every implementation.

Each check takes a ``Harness``: a snapshotter factory plus a way to get a writable directory
for an active snapshot's content and to read a committed/view snapshot's merged tree.
Implementations needing mounts (overlay) apply them for real in their harness.
"""

from __future__ import annotations

import os

import pytest

from hako.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound
from hako.store.snapshots.base import Kind


def write(h, key: str, rel: str, data: bytes) -> None:
    with h.active(key) as root:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def check_basic(h) -> None:
    sn = h.sn
    sn.prepare("a")
    write(h, "a", "foo", b"1")
    sn.commit("base", "a")
    with pytest.raises(NotFound):
        sn.stat("a")
    info = sn.stat("base")
    assert info.kind == Kind.COMMITTED and info.parent == ""
    sn.prepare("b", "base")
    write(h, "b", "bar", b"2")
    sn.commit("top", "b")
    sn.view("v", "top")
    with h.read("v") as root:
        assert sorted(os.listdir(root)) == ["bar", "foo"]
    assert {i.name for i in sn.walk()} == {"base", "top", "v"}


def check_stat_active(h) -> None:
    h.sn.prepare("x", "", {"l": "1"})
    info = h.sn.stat("x")
    assert info.kind == Kind.ACTIVE and info.labels == {"l": "1"}
    assert h.sn.mounts("x")


def check_commit_then_view_is_readonly_kind(h) -> None:
    h.sn.prepare("a")
    h.sn.commit("c", "a")
    h.sn.view("v", "c")
    assert h.sn.stat("v").kind == Kind.VIEW
    with pytest.raises(FailedPrecondition):
        h.sn.commit("c2", "v")
    with pytest.raises(FailedPrecondition):
        h.sn.mounts("c")


def check_duplicate_keys(h) -> None:
    h.sn.prepare("a")
    with pytest.raises(AlreadyExists):
        h.sn.prepare("a")
    h.sn.prepare("b")
    h.sn.commit("c", "a")
    with pytest.raises(AlreadyExists):
        h.sn.commit("c", "b")


def check_remove_middle_layer(h) -> None:
    h.sn.prepare("a")
    h.sn.commit("l1", "a")
    h.sn.prepare("b", "l1")
    h.sn.commit("l2", "b")
    h.sn.prepare("c", "l2")
    with pytest.raises(Conflict):
        h.sn.remove("l1")
    with pytest.raises(Conflict):
        h.sn.remove("l2")
    h.sn.remove("c")
    h.sn.remove("l2")
    h.sn.remove("l1")
    assert list(h.sn.walk()) == []
    with pytest.raises(NotFound):
        h.sn.remove("l1")


def check_deletion_in_upper(h) -> None:
    h.sn.prepare("a")
    write(h, "a", "keep", b"k")
    write(h, "a", "drop", b"d")
    h.sn.commit("base", "a")
    h.sn.prepare("b", "base")
    with h.active("b") as root:
        os.unlink(os.path.join(root, "drop"))
    h.sn.commit("top", "b")
    h.sn.view("v", "top")
    with h.read("v") as root:
        assert os.listdir(root) == ["keep"]


def check_many_layers(h, count: int = 128) -> None:
    parent = ""
    for i in range(count):
        h.sn.prepare(f"k{i}", parent)
        write(h, f"k{i}", f"f{i}", str(i).encode())
        h.sn.commit(f"n{i}", f"k{i}")
        parent = f"n{i}"
    h.sn.prepare("top", parent)
    with h.active("top") as root:
        assert len(os.listdir(root)) == count


def check_reopen_keeps_state_and_drops_orphans(h) -> None:
    h.sn.prepare("a")
    h.sn.commit("c", "a")
    orphan = os.path.join(h.sn.root, "snapshots", "new-orphan")
    os.makedirs(orphan)
    h.reopen()
    assert h.sn.stat("c").kind == Kind.COMMITTED
    assert not os.path.exists(orphan)


def check_usage(h) -> None:
    h.sn.prepare("a")
    write(h, "a", "big", b"x" * 100000)
    assert h.sn.usage("a").size >= 100000


CHECKS = [check_basic, check_stat_active, check_commit_then_view_is_readonly_kind,
          check_duplicate_keys, check_remove_middle_layer, check_deletion_in_upper,
          check_many_layers, check_reopen_keeps_state_and_drops_orphans, check_usage]
