"""hako.support.tarwrite: the one tar writer (docker cp, layers, export); no root needed."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import tempfile
import threading

import pytest

from hako.support import tarwrite

BIG = 3 * (1 << 20) + 77  # more than one copy chunk, not a whole number of blocks


def _file(tmp_path, name: str, size: int) -> str:
    path = os.path.join(tmp_path, name)
    with open(path, "wb") as f:
        f.write(bytes(i % 251 for i in range(size)))
    return path


def _archive(out, paths) -> None:
    w = tarwrite.Writer(out)
    for path in paths:
        st = os.lstat(path)
        info = tarwrite.entry(os.path.basename(path), st)
        fd = os.open(path, os.O_RDONLY)
        try:
            w.header(info)
            w.data(fd, info.size)
        finally:
            os.close(fd)
    w.end()


def _files(tmp_path):
    return [_file(tmp_path, "big", BIG), _file(tmp_path, "one", 1),
            _file(tmp_path, "block", 512), _file(tmp_path, "empty", 0)]


def test_same_bytes_through_memory_a_file_a_pipe_and_an_append_only_file(tmp_path, monkeypatch):
    paths = _files(tmp_path)
    sent = []
    real_sendfile = os.sendfile
    monkeypatch.setattr(os, "sendfile", lambda *a: sent.append(a) or real_sendfile(*a))
    mem = io.BytesIO()
    _archive(mem, paths)
    assert sent == []  # no descriptor: read and written
    data = mem.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            src = os.path.join(tmp_path, m.name)
            assert tf.extractfile(m).read() == open(src, "rb").read()
    assert data.endswith(b"\0" * 1024) and len(data) % 512 == 0

    with tempfile.TemporaryFile() as f:  # a real descriptor: the kernel copies
        _archive(f, paths)
        f.seek(0)
        assert f.read() == data
    assert sum(n for *_, n in sent) >= BIG

    r, w = os.pipe()
    got = bytearray()
    with open(w, "wb") as out:
        def drain() -> None:
            while chunk := os.read(r, 1 << 16):
                got.extend(chunk)

        t = threading.Thread(target=drain)
        t.start()
        _archive(out, paths)
    t.join()
    os.close(r)
    assert bytes(got) == data

    with open(tmp_path / "append.tar", "ab") as out:  # sendfile refuses O_APPEND: falls back
        _archive(out, paths)
    assert (tmp_path / "append.tar").read_bytes() == data


@pytest.mark.parametrize("direct", [False, True])
def test_a_file_that_shrank_is_padded_with_zeros(tmp_path, direct):
    path = _file(tmp_path, "f", 1000)
    out = tempfile.TemporaryFile() if direct else io.BytesIO()
    with out:
        w = tarwrite.Writer(out)
        fd = os.open(path, os.O_RDONLY)
        try:
            w.data(fd, 1500)  # the size its header claimed
        finally:
            os.close(fd)
        out.seek(0)
        data = out.read()
    assert data == open(path, "rb").read() + b"\0" * 500 + b"\0" * (1536 - 1500)


def test_a_wrapper_that_delegates_fileno_is_written_through(tmp_path):
    """Only io's own file types are bypassed: a wrapper (hashing what it writes) sees it all."""
    path = _file(tmp_path, "f", 4096)

    class Hashing:
        def __init__(self, f) -> None:
            self.f, self.h = f, hashlib.sha256()

        def write(self, b) -> int:
            self.h.update(b)
            return self.f.write(b)

        def flush(self) -> None:
            self.f.flush()

        def fileno(self) -> int:
            return self.f.fileno()

    with tempfile.TemporaryFile() as f:
        out = Hashing(f)
        _archive(out, [path])
        f.seek(0)
        assert hashlib.sha256(f.read()).hexdigest() == out.h.hexdigest()


def test_empty_archive_is_the_well_known_tar():
    out = io.BytesIO()
    tarwrite.Writer(out).end()
    assert hashlib.sha256(out.getvalue()).hexdigest().startswith("5f70bf18a086")


def test_entries_hard_links_sockets_and_undecodable_names(tmp_path):
    name = b"na\xffme"
    path = os.path.join(os.fsencode(tmp_path), name)
    with open(path, "wb") as f:
        f.write(b"x")
    os.link(path, tmp_path / "again")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    sock.close()
    assert tarwrite.entry("sock", os.lstat(tmp_path / "sock")) is None

    out = io.BytesIO()
    w = tarwrite.Writer(out)
    for arc, p in ((os.fsdecode(name), path), ("again", str(tmp_path / "again"))):
        st = os.lstat(p)
        info = tarwrite.entry(arc, st)
        first = w.first_link(st, arc)
        if first:
            w.link(info, first)
        else:
            fd = os.open(p, os.O_RDONLY)
            w.header(info)
            w.data(fd, info.size)
            os.close(fd)
    w.end()
    out.seek(0)
    with tarfile.open(fileobj=out, encoding="utf-8", errors="surrogateescape") as tf:
        first, second = tf.getmembers()
    assert os.fsencode(first.name) == name and first.size == 1 and first.uname == ""
    assert second.islnk() and second.linkname == first.name and second.size == 0
