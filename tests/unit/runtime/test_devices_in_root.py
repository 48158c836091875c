"""hako.runtime.devices makes each node inside the container's root: an image's symlink or
a ``..`` in the spec's path never leads the mknod (or the bind fallback) out of it."""

from __future__ import annotations

import os
import stat

import pytest

from hako.runtime import devices

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def _layout(tmp_path):
    rootfs, outside = tmp_path / "rootfs", tmp_path / "outside"
    rootfs.mkdir()
    outside.mkdir()
    return rootfs, outside


def test_a_symlinked_dev_is_followed_inside_the_root(tmp_path):
    rootfs, outside = _layout(tmp_path)
    os.symlink(str(outside), rootfs / "dev")  # absolute: means <rootfs><outside> in the container
    devices.create(str(rootfs), devices.Device("/dev/x", "c", 1, 3))
    assert not os.path.lexists(outside / "x")
    made = os.lstat(str(rootfs) + str(outside) + "/x")
    assert stat.S_ISCHR(made.st_mode) and os.major(made.st_rdev) == 1 and os.minor(made.st_rdev) == 3


def test_dot_dot_stops_at_the_root(tmp_path):
    rootfs, outside = _layout(tmp_path)
    (rootfs / "dev").mkdir()
    path = "/dev" + "/.." * 10 + str(outside) + "/y"
    devices.create_all(str(rootfs), devices.parse([{"path": path, "type": "c", "major": 1, "minor": 5}]))
    assert not os.path.lexists(outside / "y")
    assert stat.S_ISCHR(os.lstat(str(rootfs) + str(outside) + "/y").st_mode)
    assert stat.S_ISCHR(os.lstat(rootfs / "dev" / "null").st_mode)  # the defaults are made too


def test_mode_and_owner_are_the_specs(tmp_path):
    rootfs, _ = _layout(tmp_path)
    devices.create(str(rootfs), devices.Device("/dev/sub/z", "c", 1, 5, 0o640, 12, 34))
    st = os.lstat(rootfs / "dev" / "sub" / "z")
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == (12, 34)


@pytest.mark.parametrize("entry", [
    {"path": "dev/x", "type": "c"}, {"path": "/", "type": "c"}, {"path": "/dev/x", "type": "q"}])
def test_bad_entries_are_refused(entry):
    with pytest.raises(Exception, match="invalid device"):
        devices.parse([entry])


def test_symlinks_and_ptmx_stay_inside_the_root(tmp_path):
    rootfs, outside = _layout(tmp_path)
    (outside / "pts").mkdir()
    (outside / "ptmx").write_text("the host's")  # what an escape would replace
    os.symlink(str(outside), rootfs / "dev")
    inside = str(rootfs) + str(outside)
    os.makedirs(inside + "/pts")
    devices.create_symlinks(str(rootfs))
    assert (outside / "ptmx").read_text() == "the host's"
    assert not os.path.lexists(outside / "fd")
    assert os.readlink(inside + "/fd") == "/proc/self/fd"
    assert os.readlink(inside + "/ptmx") == "pts/ptmx"


def test_an_existing_entry_is_left_alone(tmp_path):
    rootfs, _ = _layout(tmp_path)
    (rootfs / "dev").mkdir()
    (rootfs / "dev" / "null").write_text("bind-mounted or the host's own /dev: not ours to replace")
    devices.create(str(rootfs), devices.Device("/dev/null", "c", 1, 3))
    assert (rootfs / "dev" / "null").read_text().startswith("bind-mounted")
