"""hako.daemon.userns: subuid parsing, id maps, range allocation, spec changes (pure logic)."""

from __future__ import annotations

import os

import pytest

from hako.daemon import userns
from hako.errors import InvalidArgument

REMAP = userns.Remap("u", "u", ((0, 100000, 65536),), ((0, 200000, 65536),))


def test_ranges_by_name_or_uid_in_order(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("other:1:5\nu:300000:10\n1001:100000:65536\nbad line\n")
    assert userns.read_ranges(str(f), ("u", "1001")) == [(100000, 65536), (300000, 10)]
    assert userns.to_maps([(100000, 65536), (300000, 10)]) == ((0, 100000, 65536), (65536, 300000, 10))


def test_parse_user_group():
    assert userns.parse("alice") == ("alice", "alice")
    assert userns.parse("1000:1001") == ("1000", "1001")
    with pytest.raises(InvalidArgument):
        userns.parse("a:b:c")


def test_free_start_skips_taken_ranges(tmp_path):
    a, b = tmp_path / "subuid", tmp_path / "subgid"
    a.write_text("x:100000:65536\n")
    b.write_text("y:165536:1000\n")
    assert userns._free_start((str(a), str(b))) == 166536


def test_unknown_user_and_missing_range(tmp_path):
    (tmp_path / "subuid").write_text("")
    (tmp_path / "subgid").write_text("root:100000:65536\n")
    with pytest.raises(InvalidArgument, match='uid lookup for "nosuchuser-x"'):
        userns.resolve("nosuchuser-x", etc=str(tmp_path))
    with pytest.raises(InvalidArgument, match='no subuid ranges found for user "root"'):
        userns.resolve("root", etc=str(tmp_path))


def test_shift_round_trip():
    assert userns._shift(5, REMAP.uid_maps) == 100005
    assert userns._shift(100005, REMAP.uid_maps) == 100005  # already shifted
    assert userns._unshift(100005, REMAP.uid_maps) == 5
    assert userns._shift(70000, REMAP.uid_maps) == 70000  # outside the map: left alone


def test_apply_spec_adds_userns_and_binds_sys():
    spec = {"linux": {"namespaces": [{"type": "mount"}, {"type": "network", "path": "/x"}]},
            "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}]}
    userns.apply_spec(spec, REMAP)
    assert spec["linux"]["namespaces"][0] == {"type": "user"}
    assert spec["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 100000, "size": 65536}]
    assert spec["linux"]["gidMappings"][0]["hostID"] == 200000
    assert spec["mounts"][0]["type"] == "bind" and spec["mounts"][0]["source"] == "/sys"
    assert "ro" in spec["mounts"][0]["options"]


def test_wanted_honours_userns_host():
    assert userns.wanted(REMAP, {"UsernsMode": "host"}) is None
    assert userns.wanted(REMAP, {}) is REMAP
    assert userns.wanted(None, {}) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="lchown to other ids needs root")
def test_shift_tree_round_trip_keeps_setuid(tmp_path):
    top = tmp_path / "fs"
    (top / "d").mkdir(parents=True)
    f = top / "d" / "f"
    f.write_text("x")
    os.chown(f, 5, 6)
    os.chmod(f, 0o4755)
    os.symlink("f", top / "d" / "l")
    userns.shift_tree(str(top), REMAP)
    st = os.lstat(f)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (100005, 200006, 0o4755)
    assert os.lstat(top / "d" / "l").st_uid == 100000
    userns.shift_tree(str(top), REMAP)  # idempotent
    assert os.lstat(f).st_uid == 100005
    userns.shift_tree(str(top), REMAP, back=True)
    assert (os.lstat(f).st_uid, os.lstat(top).st_uid) == (5, 0)
