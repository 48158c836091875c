"""Deterministic layer tars from ``hako.store.changes.write_layer`` (no root needed)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

from hako.store.changes import Change, Kind, write_layer


def _tree(root):
    os.makedirs(os.path.join(root, "a/b"))
    for rel, data in (("a/b/f", b"1"), ("a-c", b"22"), ("z", b"333")):
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)


CHANGES = [Change("/z", Kind.ADDED), Change("/a", Kind.MODIFIED), Change("/a/b", Kind.ADDED),
           Change("/a/b/f", Kind.ADDED), Change("/a-c", Kind.ADDED), Change("/gone", Kind.DELETED)]


def _layer(root, epoch):
    buf = io.BytesIO()
    write_layer(CHANGES, str(root), buf, clamp_mtime=epoch)
    return buf.getvalue()


def test_empty_layer_is_the_well_known_tar(tmp_path):
    buf = io.BytesIO()
    write_layer([], str(tmp_path), buf)
    assert buf.getvalue() == b"\0" * 1024
    assert hashlib.sha256(buf.getvalue()).hexdigest().startswith("5f70bf18a086")


def test_sorted_numeric_and_clamped(tmp_path):
    _tree(tmp_path)
    data = _layer(tmp_path, 1000)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
    # sorted by changed path (byte order, as Docker sorts its change list)
    assert [m.name for m in members] == ["a", "a-c", "a/b", "a/b/f", ".wh.gone", "z"]
    assert all(m.mtime <= 1000 and m.uname == "" and m.gname == "" for m in members)
    assert len(data) % 512 == 0 and data.endswith(b"\0" * 1024)


def test_same_tree_same_bytes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _tree(one)
    _tree(two)
    os.utime(two / "z", (50000, 50000))  # later than the epoch: clamped
    assert _layer(one, 1000) == _layer(two, 1000)
