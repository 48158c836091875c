"""Hostile images: symlinks in the container rootfs must be resolved inside it when the
daemon reads /etc/passwd and /etc/group or creates the working directory on the host."""

from __future__ import annotations

import os

import pytest

from hako.daemon import bundle, users
from hako.errors import InvalidArgument


@pytest.fixture
def hostile(tmp_path):
    """A rootfs whose /etc/passwd, /etc/group and /w point at files and dirs outside it."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "passwd").write_text("evil:x:4242:4242:evil:/evil:/bin/sh\n")
    (host / "group").write_text("evilgrp:x:4343:evil\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink(str(host / "passwd"), rootfs / "etc" / "passwd")
    os.symlink("../../host/group", rootfs / "etc" / "group")
    os.symlink(str(host), rootfs / "w")
    os.symlink("../../..", rootfs / "up")
    return rootfs, host


def test_passwd_symlink_to_host_is_not_read(hostile):
    rootfs, _ = hostile
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        users.resolve(str(rootfs), "evil")


def test_group_symlink_climbing_out_is_not_read(hostile):
    rootfs, _ = hostile
    with pytest.raises(InvalidArgument, match="unable to find group evilgrp"):
        users.resolve(str(rootfs), "0:evilgrp")


def test_passwd_symlink_inside_rootfs_is_followed(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "data").mkdir()
    (rootfs / "data" / "passwd").write_text("app:x:1000:1000:app:/home/app:/bin/sh\n")
    os.symlink("/data/passwd", rootfs / "etc" / "passwd")
    u = users.resolve(str(rootfs), "app")
    assert (u.uid, u.gid, u.home) == (1000, 1000, "/home/app")


def test_passwd_fifo_does_not_block(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.mkfifo(rootfs / "etc" / "passwd")
    assert users.resolve(str(rootfs), "123").uid == 123


def test_workdir_through_symlink_stays_in_rootfs(hostile):
    rootfs, host = hostile
    bundle.make_workdir(str(rootfs), "/w/sub")
    assert not (host / "sub").exists()
    assert os.path.isdir(str(rootfs) + str(host) + "/sub")


def test_workdir_with_dotdot_stays_in_rootfs(hostile, tmp_path):
    rootfs, _ = hostile
    bundle.make_workdir(str(rootfs), "/up/../../escaped")
    assert not (tmp_path / "escaped").exists()
    assert os.path.isdir(str(rootfs) + "/escaped")
