"""fsroot: paths resolved inside a root through descriptors (symlinks interpreted inside)."""

from __future__ import annotations

import os

import pytest

from hako.errors import InvalidArgument
from hako.support.fsroot import Root, open_in_root


def _where(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "real").mkdir(parents=True)
    (r / "etc").mkdir()
    (r / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    os.symlink("/real", r / "abs")
    os.symlink("../../../../etc", r / "escape")
    os.symlink(str(tmp_path / "host"), r / "hostlink")
    os.symlink("loop", r / "loop")
    (r / "file").write_text("x")
    (tmp_path / "host").mkdir()
    return r


def test_symlinks_resolve_inside_the_root(root):
    with Root(str(root)) as r:
        assert _where(r.open_dir("abs")) == str(root / "real")
        assert _where(r.lookup("escape/passwd")) == str(root / "etc" / "passwd")
        assert _where(r.open_dir("../../..")) == str(root)
        assert _where(r.lookup("abs", follow=False)) == str(root / "abs")


def test_make_creates_inside_the_root_only(root, tmp_path):
    with Root(str(root)) as r:
        assert _where(r.make("hostlink/a/b")) == str(root) + str(tmp_path / "host") + "/a/b"
        assert _where(r.make("abs/f", "file")) == str(root / "real" / "f")
    assert os.listdir(tmp_path / "host") == []
    assert (root / "real" / "f").is_file()


def test_errors(root):
    with Root(str(root)) as r:
        with pytest.raises(InvalidArgument, match="too many levels"):
            r.lookup("loop/x")
        with pytest.raises(InvalidArgument, match="not a directory"):
            r.open_dir("file/x")
        with pytest.raises(FileNotFoundError):
            r.lookup("missing/x")
        with pytest.raises(InvalidArgument, match="no parent"):
            r.parent("")


def test_open_in_root_reads_through_links_inside(root):
    fd = open_in_root(str(root), "escape/passwd")
    with os.fdopen(fd) as f:
        assert f.read().startswith("root:")
    with pytest.raises(IsADirectoryError):
        open_in_root(str(root), "real")
