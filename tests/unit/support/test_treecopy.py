"""support.treecopy: a cp -a through descriptors (copy-up of an image's VOLUME content)."""

from __future__ import annotations

import inspect
import os
import stat
import sys

import pytest

from hako.support import treecopy

_DIR = os.O_RDONLY | os.O_DIRECTORY


def _copy(src: str, dst: str, workers: int | None = None) -> None:
    s, d = os.open(src, _DIR), os.open(dst, _DIR)
    try:
        treecopy.copy_tree(s, d, workers)
    finally:
        os.close(s)
        os.close(d)


@pytest.fixture
def trees(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    return src, dst


@pytest.mark.parametrize("workers", [1, 3])
def test_files_byte_exact_with_owner_mode_times_and_xattrs(trees, workers):
    src, dst = trees
    big = os.urandom(3 << 20) + b"tail"
    (src / "big").write_bytes(big)
    many = {f"m{i}": os.urandom((300 << 10) + i) for i in range(12)}  # filled by workers
    for i, (name, data) in enumerate(many.items()):
        (src / name).write_bytes(data)
        os.chmod(src / name, 0o400 + i)
    (src / "empty").write_bytes(b"")
    sub = src / "a" / "b"
    sub.mkdir(parents=True)
    (sub / "f").write_bytes(b"deep")
    os.chown(sub / "f", 1234, 5678)
    os.chmod(sub / "f", 0o4750)  # set-uid kept: the mode is set after the owner
    os.chown(src / "a", 1000, 1001)
    os.chmod(src / "a", 0o2705)
    os.setxattr(src / "big", "user.hako", b"kept")
    os.utime(src / "big", ns=(1_000_000_123, 2_000_000_456))
    os.utime(src / "a", ns=(3_000_000_000, 4_000_000_000))
    _copy(str(src), str(dst), workers)
    st = os.lstat(dst / "big")  # before reading it changes its atime
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    assert (dst / "big").read_bytes() == big
    assert (dst / "empty").read_bytes() == b"" and (dst / "a" / "b" / "f").read_bytes() == b"deep"
    st = os.lstat(dst / "a" / "b" / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o4750)
    st = os.lstat(dst / "a")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o2705)
    assert st.st_mtime_ns == 4_000_000_000  # set after its children were written
    assert os.getxattr(dst / "big", "user.hako") == b"kept"
    for name, data in many.items():
        assert (dst / name).read_bytes() == data
        assert os.lstat(dst / name).st_mode == os.lstat(src / name).st_mode


def test_sparse_file_keeps_holes_and_bytes(trees):
    src, dst = trees
    size = 64 << 20
    with open(src / "sparse", "wb") as f:
        f.seek(8 << 20)
        f.write(b"x" * 4096)
        f.truncate(size)  # a trailing hole
    _copy(str(src), str(dst))
    st = os.stat(dst / "sparse")
    assert st.st_size == size
    assert st.st_blocks * 512 < 1 << 20  # not 64 MiB of written zeros
    with open(dst / "sparse", "rb") as f:
        f.seek((8 << 20) - 1)
        assert f.read(4098) == b"\0" + b"x" * 4096 + b"\0"


def test_symlinks_copied_not_followed(trees, tmp_path):
    src, dst = trees
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "loot").write_text("host")
    os.symlink(str(secret), src / "escape")  # a hostile absolute link out of the tree
    os.symlink("../../..", src / "up")
    os.lchown(src / "up", 7, 8)
    _copy(str(src), str(dst))
    assert os.readlink(dst / "escape") == str(secret)
    assert os.readlink(dst / "up") == "../../.."
    assert os.lstat(dst / "up").st_uid == 7
    assert os.listdir(secret) == ["loot"]  # nothing was read or written through the link


def test_hard_links_fifos_and_devices(trees):
    src, dst = trees
    (src / "one").write_text("same inode")
    os.link(src / "one", src / "two")
    os.symlink("nowhere", src / "l1")
    os.link(src / "l1", src / "l2", follow_symlinks=False)  # a hard link of a symlink
    os.mkfifo(src / "pipe", 0o640)
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    _copy(str(src), str(dst))
    assert os.lstat(dst / "one").st_ino == os.lstat(dst / "two").st_ino
    assert os.lstat(dst / "l1").st_ino == os.lstat(dst / "l2").st_ino
    assert os.readlink(dst / "l2") == "nowhere"
    assert stat.S_ISFIFO(os.lstat(dst / "pipe").st_mode)
    assert stat.S_IMODE(os.lstat(dst / "pipe").st_mode) == 0o640
    st = os.lstat(dst / "null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def _chain_depth(top, remove: bool = False) -> int:
    """How deep a chain of directories named ``d`` goes (removed bottom-up if asked:
    shutil.rmtree recurses and would not manage)."""
    fds = [os.open(top, _DIR)]
    while "d" in os.listdir(fds[-1]):
        fds.append(os.open("d", _DIR, dir_fd=fds[-1]))
    depth = len(fds) - 1
    for i in range(depth, -1, -1):
        if remove and i < depth:
            os.rmdir("d", dir_fd=fds[i])
        os.close(fds[i])
    return depth


def test_deep_tree_beyond_recursion_limit(trees):
    """The walk is iterative: a tree deeper than the frames Python has left is copied."""
    src, dst = trees
    fd = os.open(src, _DIR)
    for _ in range(300):
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", _DIR, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(len(inspect.stack()) + 100)  # 100 frames left, 300 levels
        _copy(str(src), str(dst))
        sys.setrecursionlimit(limit)
        assert _chain_depth(dst) == 300
    finally:
        sys.setrecursionlimit(limit)
        _chain_depth(src, remove=True)
        _chain_depth(dst, remove=True)


def test_existing_destination_entry_is_refused_not_followed(trees, tmp_path):
    """A name already in the destination (a symlink raced in by someone else) makes the
    copy fail; nothing is written through it."""
    src, dst = trees
    (src / "f").write_text("data")
    target = tmp_path / "victim"
    target.write_text("untouched")
    os.symlink(str(target), dst / "f")
    with pytest.raises(FileExistsError):
        _copy(str(src), str(dst))
    assert target.read_text() == "untouched"
