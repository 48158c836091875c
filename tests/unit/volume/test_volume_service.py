"""VolumeService and the local driver on a temporary root: names, references, crash leftovers."""

from __future__ import annotations

import os

import pytest

from hako.errors import Conflict, InvalidArgument, NotFound
from hako.volume.service import VolumeService


@pytest.fixture
def svc(tmp_path):
    return VolumeService(str(tmp_path / "volumes"))


def test_create_get_list_remove(svc, tmp_path):
    vol = svc.create("data", labels={"a": "b"})
    assert vol.mountpoint == str(tmp_path / "volumes" / "data" / "_data")
    assert os.path.isdir(vol.mountpoint)
    assert svc.create("data") is vol  # an existing name is returned, as Docker
    assert [v.name for v in svc.list()] == ["data"]
    anon = svc.create()
    assert len(anon.name) == 64
    svc.remove("data")
    assert not os.path.exists(tmp_path / "volumes" / "data")
    with pytest.raises(NotFound, match="get data: no such volume"):
        svc.get("data")
    svc.remove("data", force=True)  # force: a missing volume is not an error


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "x", "-x", "a b"])
def test_hostile_names_never_make_paths(svc, tmp_path, name):
    with pytest.raises(InvalidArgument):
        svc.create(name)
    assert sorted(os.listdir(tmp_path / "volumes")) == []
    assert sorted(os.listdir(tmp_path)) == ["volumes"]


def test_unknown_driver_and_options(svc):
    with pytest.raises(NotFound, match='plugin "nfs" not found'):
        svc.create("vv", driver="nfs")
    with pytest.raises(InvalidArgument, match='invalid option key: "bogus"'):
        svc.create("vv", options={"bogus": "1"})


def test_in_use_is_never_removed(svc):
    svc.acquire("vv", "c1")
    svc.acquire("vv", "c2")
    with pytest.raises(Conflict, match=r"remove vv: volume is in use - \[c1, c2\]"):
        svc.remove("vv")
    assert svc.prune() == ([], 0)
    svc.release("c1", ["vv"])
    svc.release("c2", ["vv"])
    removed, _ = svc.prune()
    assert removed == ["vv"]


def test_reload_and_crash_leftovers(tmp_path):
    root = str(tmp_path / "volumes")
    svc = VolumeService(root)
    svc.create("kept", labels={"k": "v"})
    os.makedirs(os.path.join(root, "half", "_data"))  # create cut before its record
    os.makedirs(os.path.join(root, ".trash-gone-1234"))  # removal cut after the rename
    again = VolumeService(root)
    assert [v.name for v in again.list()] == ["kept"]
    assert again.get("kept").labels == {"k": "v"}
    assert sorted(os.listdir(root)) == ["kept"]
