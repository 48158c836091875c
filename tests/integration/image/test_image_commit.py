"""ImageService.commit_snapshot / commit_config against real snapshots (overlay and native).

Changes are made through the real mounted rootfs (overlay mounts when root), so whiteouts
and opaque directories come from the kernel, as for a container.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from contextlib import contextmanager

import pytest

from hako.image.service import ImageService
from hako.oci.digest import Digest
from hako.store.mount import mount_all, unmount

pytestmark = pytest.mark.integration

EMPTY_LAYER = "sha256:" + hashlib.sha256(b"\0" * 1024).hexdigest()


@pytest.fixture
def base(svc, rootfs_tar):
    with open(rootfs_tar, "rb") as f:
        return svc.import_tar(f, "busybox:latest", ['CMD ["sh"]'])


@contextmanager
def mounted(svc, key):
    """The rootfs of ``key`` mounted on a temporary directory."""
    target = tempfile.mkdtemp(prefix="hako-commit-test-")
    try:
        mount_all(svc.rootfs_mounts(key), target)
        try:
            yield target
        finally:
            unmount(target, detach=True)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _make_changes(root: str, payload: bytes = b"hello\n") -> None:
    with open(os.path.join(root, "new.txt"), "wb") as f:
        f.write(payload)
    with open(os.path.join(root, "etc/passwd"), "ab") as f:
        f.write(b"app:x:1000:1000::/:/bin/sh\n")
    os.unlink(os.path.join(root, "etc/group"))
    shutil.rmtree(os.path.join(root, "root"))
    shutil.rmtree(os.path.join(root, "var"))
    os.mkdir(os.path.join(root, "var"))
    with open(os.path.join(root, "var/fresh"), "wb") as f:
        f.write(b"x")


def _layer_names(svc, diff_id: str) -> list[str]:
    data = svc.content.read_bytes(Digest.parse(diff_id))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.name for m in tf.getmembers()]


def _commit(svc, key, parent, **kw):
    return svc.commit_snapshot(key, parent=parent, config={"Cmd": ["cat", "/new.txt"]},
                               history={"created_by": "/bin/sh -c make changes"}, **kw)


def _cleanup(svc, *keys):
    for key in keys:
        svc.remove_rootfs(key)


def test_commit_snapshot_layer_and_image(svc, base):
    key = f"c{os.getpid()}a"
    svc.prepare_rootfs(key, base.id)
    try:
        with mounted(svc, key) as root:
            _make_changes(root)
        img = _commit(svc, key, base.id, container_config={"Cmd": ["sh"]}, container_id=key,
                      author="me", comment="msg")
        assert svc.sn.stat("container-" + key)  # the snapshot is kept
    finally:
        _cleanup(svc, key)
    assert img.parent == base.id and img.layers[:-1] == base.layers and len(img.layers) == 2
    assert img.config == {"Cmd": ["cat", "/new.txt"]} and img.author == "me" and img.comment == "msg"
    assert img.container == key and img.container_config["Cmd"] == ["sh"]
    assert img.history[-1]["created_by"] == "/bin/sh -c make changes"
    assert "empty_layer" not in img.history[-1] and len(img.history) == len(base.history) + 1
    assert [c.id for c in svc.children(base.id)] == [img.id] and img.repo_tags == ()
    names = _layer_names(svc, img.layers[-1])
    paths = [n.replace(".wh..wh..opq", "").replace(".wh.", "").rstrip("/") for n in names]
    assert paths == sorted(paths)  # sorted by the changed path, whiteouts in place
    assert {"new.txt", "etc/passwd", "etc/.wh.group", ".wh.root", "var", "var/fresh"} <= set(names)
    if svc.driver_name == "overlay2":
        assert "var/.wh..wh..opq" in names
    # the new image's chain is committed: a container of it needs no unpacking
    assert svc.unpacker.have_layers([Digest.parse(d) for d in img.layers])
    key2 = key + "b"
    svc.prepare_rootfs(key2, img.id)
    try:
        with mounted(svc, key2) as root:
            assert open(os.path.join(root, "new.txt"), "rb").read() == b"hello\n"
            assert b"app:x:1000" in open(os.path.join(root, "etc/passwd"), "rb").read()
            assert not os.path.exists(os.path.join(root, "etc/group"))
            assert not os.path.exists(os.path.join(root, "root"))
            assert sorted(os.listdir(os.path.join(root, "var"))) == ["fresh"]
            assert os.path.exists(os.path.join(root, "bin/busybox"))
    finally:
        _cleanup(svc, key2)
    hist = svc.history(img.id)
    assert hist[0]["Id"] == img.id and hist[0]["CreatedBy"] == "/bin/sh -c make changes"
    assert hist[0]["Size"] > 0 and hist[1]["Id"] == base.id  # a local parent shows its id


def test_same_changes_same_digest_with_source_date_epoch(svc, base):
    diff_ids = []
    for n in range(2):
        key = f"c{os.getpid()}d{n}"
        svc.prepare_rootfs(key, base.id)
        try:
            with mounted(svc, key) as root:
                _make_changes(root)
            img = _commit(svc, key, base.id, source_date_epoch=1000000)
        finally:
            _cleanup(svc, key)
        diff_ids.append(img.layers[-1])
        assert img.created == "1970-01-12T13:46:40Z"
    assert diff_ids[0] == diff_ids[1]
    data = svc.content.read_bytes(Digest.parse(diff_ids[0]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            assert m.mtime <= 1000000 and m.uname == "" and m.gname == ""
            assert not {"atime", "ctime"} & set(m.pax_headers)


def test_source_date_epoch_from_environment(svc, base, monkeypatch):
    # the contract reads os.environ when no kwarg is given: set it for this test only
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    key = f"c{os.getpid()}e"
    svc.prepare_rootfs(key, base.id)
    try:
        with mounted(svc, key) as root:
            _make_changes(root)
        img = _commit(svc, key, base.id)
    finally:
        _cleanup(svc, key)
    assert img.created == "1970-01-02T00:00:00Z"


def test_empty_diff_still_makes_a_layer(svc, base):
    key = f"c{os.getpid()}n"
    svc.prepare_rootfs(key, base.id)
    try:
        img = _commit(svc, key, "busybox")
    finally:
        _cleanup(svc, key)
    assert img.layers[-1] == EMPTY_LAYER and len(img.layers) == 2 and img.parent == base.id


def test_commit_config_is_metadata_only(svc, base):
    img = svc.commit_config(parent=base.id, config={"Env": ["A=1"]},
                            history={"created_by": '/bin/sh -c #(nop)  ENV A=1'},
                            container_config={"Cmd": ["/bin/sh", "-c", "#(nop) ENV A=1"]})
    assert img.layers == base.layers and img.parent == base.id
    assert img.history[-1]["empty_layer"] is True and img.config == {"Env": ["A=1"]}
    hist = svc.history(img.id)
    assert hist[0]["Size"] == 0 and hist[0]["CreatedBy"].endswith("ENV A=1")


def test_scratch_rootfs_and_commit_without_parent(svc):
    key = f"c{os.getpid()}s"
    svc.prepare_rootfs(key, None)
    try:
        with mounted(svc, key) as root:
            assert os.listdir(root) == []
            os.mkdir(os.path.join(root, "app"))
            with open(os.path.join(root, "app/hello"), "wb") as f:
                f.write(b"hi")
        img = _commit(svc, key, None)
    finally:
        _cleanup(svc, key)
    assert img.parent == "" and len(img.layers) == 1 and img.architecture
    assert _layer_names(svc, img.layers[0]) == ["app", "app/hello"]
    empty = svc.commit_config(parent=None, config={"Cmd": ["x"]}, history={"created_by": "CMD"})
    assert empty.layers == () and empty.history[0]["empty_layer"] is True
    svc.prepare_rootfs(key, "")
    _cleanup(svc, key)


def test_history_walks_local_parents(svc, base):
    mid = svc.commit_config(parent=base.id, config={"Env": ["A=1"]}, history={"created_by": "ENV A=1"})
    svc.tag(mid.id, "mid", "v1")
    top = svc.commit_config(parent=mid.id, config={"Env": ["A=2"]}, history={"created_by": "ENV A=2"})
    hist = svc.history(top.id)
    assert [h["Id"] for h in hist] == [top.id, mid.id, base.id][:len(hist)]
    assert hist[1]["Tags"] == ["mid:v1"] and hist[0]["Tags"] is None
    assert [h["CreatedBy"] for h in hist[:2]] == ["ENV A=2", "ENV A=1"]


def test_prune_dangling_all_and_filters(svc, base):
    key = f"c{os.getpid()}p"
    svc.prepare_rootfs(key, base.id)
    try:
        with mounted(svc, key) as root:
            _make_changes(root, b"z" * 100000)
        dangling = _commit(svc, key, base.id)
        labelled = svc.commit_config(parent=base.id, config={"Labels": {"keep": "1"}},
                                     history={"created_by": "LABEL keep=1"})
    finally:
        _cleanup(svc, key)
    svc.tag(base.id, "other", "v1")
    with pytest.raises(Exception, match="invalid filter 'bogus'"):
        svc.prune(filters={"bogus": ["1"]})
    assert svc.prune(filters={"until": ["1970-01-02T00:00:00Z"]})["ImagesDeleted"] is None
    report = svc.prune(filters={"label!": ["keep=1"]})
    assert report["ImagesDeleted"][0] == {"Deleted": dangling.id}
    assert report["SpaceReclaimed"] >= 100000
    assert [i.id for i in svc.list(all=True) if i.id == labelled.id] == [labelled.id]
    report = svc.prune(dangling_only=False, filters={"until": ["1h"]})  # all images are newer
    assert report["ImagesDeleted"] is None
    report = svc.prune(dangling_only=False, filters={"label": ["keep"]})
    assert {"Deleted": labelled.id} in report["ImagesDeleted"]
    ids = {i.id for i in svc.list(all=True)}
    assert base.id in ids and labelled.id not in ids
