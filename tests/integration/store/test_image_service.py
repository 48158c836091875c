"""ImageService against the real filesystem (and real overlay mounts when root)."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from hako.errors import Conflict, ImageNotFound, InvalidArgument
from hako.image.service import ImageService
from hako.oci import mediatypes as mt
from hako.oci.digest import Digest

pytestmark = pytest.mark.integration


def _import(svc, path, name="busybox:latest"):
    with open(path, "rb") as f:
        return svc.import_tar(f, name, ['CMD ["sh"]', "ENV A=b", "LABEL x=y"])


def test_import_and_get(svc, rootfs_tar):
    img = _import(svc, rootfs_tar)
    assert img.repo_tags == ("busybox:latest",)
    assert img.config["Cmd"] == ["sh"] and img.config["Env"] == ["A=b"]
    assert img.comment == "Imported from -" and len(img.layers) == 1 and img.size > 0
    for ref in ("busybox", "busybox:latest", "docker.io/library/busybox", img.id, img.id[7:],
                img.short_id, "sha256:" + img.short_id):
        assert svc.get(ref).id == img.id
    assert Digest.from_bytes(svc.content.read_bytes(Digest.parse(img.id))) == Digest.parse(img.id)
    with pytest.raises(ImageNotFound, match="No such image: nothere:latest"):
        svc.get("nothere")
    with pytest.raises(InvalidArgument, match="must be lowercase"):
        svc.get("Busybox")
    hist = svc.history("busybox")
    assert hist[0]["Id"] == img.id and hist[0]["Comment"] == "Imported from -"


def test_tag_list_filters_and_remove_semantics(svc, rootfs_tar):
    img = _import(svc, rootfs_tar)
    assert svc.tag("busybox", "localhost:5000/foo/bar", "v1") == "localhost:5000/foo/bar:v1"
    assert set(svc.get(img.id).repo_tags) == {"busybox:latest", "localhost:5000/foo/bar:v1"}
    assert [i.id for i in svc.list(filters={"reference": ["busybox"]})] == [img.id]
    assert svc.list(filters={"label": ["x=z"]}) == []
    assert svc.list(filters={"dangling": ["true"]}) == []
    with pytest.raises(InvalidArgument):
        svc.list(filters={"bogus": ["1"]})
    with pytest.raises(Conflict, match=r"\(must be forced\) - image is referenced in multiple repositories"):
        svc.remove(img.id)
    assert svc.remove("localhost:5000/foo/bar:v1") == [{"Untagged": "localhost:5000/foo/bar:v1"}]
    users = lambda image_id: [("c" * 64, False)]  # noqa: E731
    with pytest.raises(Conflict, match='unable to remove repository reference "busybox"'):
        svc.remove("busybox", containers_using=users)
    running = lambda image_id: [("d" * 64, True)]  # noqa: E731
    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image is being used by running container dddddddddddd"):
        svc.remove(img.id, force=True, containers_using=running)
    out = svc.remove("busybox")
    assert out[0] == {"Untagged": "busybox:latest"} and {"Deleted": img.id} in out
    assert svc.list(all=True) == [] and list(svc.sn.walk()) == []


def test_save_load_round_trip(svc, rootfs_tar, tmp_path):
    img = _import(svc, rootfs_tar)
    data = b"".join(svc.save(["busybox"]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["busybox:latest"]
        assert manifest[0]["Config"] == img.id[7:] + ".json"
        repos = json.load(tf.extractfile("repositories"))
        assert list(repos) == ["busybox"]
    svc.remove("busybox")
    assert svc.load(io.BytesIO(data)) == ["Loaded image: busybox:latest"]
    again = svc.get("busybox")
    assert again.id == img.id and again.config == img.config
    # loading again on top of an image with the same name renames nothing (same id)
    assert svc.load(io.BytesIO(data)) == ["Loaded image: busybox:latest"]
    by_id = b"".join(svc.save([img.short_id]))
    with tarfile.open(fileobj=io.BytesIO(by_id)) as tf:
        assert json.load(tf.extractfile("manifest.json"))[0]["RepoTags"] is None


def _oci_layout(rootfs_tar, gzip_layer: bool, ref_name: str, docker25: bool = False) -> bytes:
    import gzip

    layer = open(rootfs_tar, "rb").read()
    diff_id = Digest.from_bytes(layer)
    blob = gzip.compress(layer) if gzip_layer else layer
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
                         "created": "2024-01-01T00:00:00Z", "history": [{"created_by": "x"}]}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                           "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.from_bytes(config)), "size": len(config)},
                           "layers": [{"mediaType": mt.OCI_LAYER_GZIP if gzip_layer else mt.OCI_LAYER,
                                       "digest": str(Digest.from_bytes(blob)), "size": len(blob)}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.from_bytes(manifest)), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": ref_name}}]}).encode()
    extra = []
    if docker25:  # Docker 25+ writes an OCI layout plus a docker-archive manifest.json
        extra = [("manifest.json", json.dumps([{
            "Config": f"blobs/sha256/{Digest.from_bytes(config).hex}", "RepoTags": ["d25:latest"],
            "Layers": [f"blobs/sha256/{Digest.from_bytes(blob).hex}"]}]).encode())]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in extra + [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)] + [
                (f"blobs/sha256/{Digest.from_bytes(d).hex}", d) for d in (config, manifest, blob)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_load_oci_layout(svc, rootfs_tar):
    lines = svc.load(io.BytesIO(_oci_layout(rootfs_tar, True, "localhost/oci:1")))
    assert lines == ["Loaded image: localhost/oci:1"]
    img = svc.get("localhost/oci:1")
    assert img.config["Cmd"] == ["sh"]
    lines = svc.load(io.BytesIO(_oci_layout(rootfs_tar, False, "latest")))
    assert lines[0].startswith("Loaded image ID: sha256:")


def test_load_docker25_archive(svc, rootfs_tar):
    lines = svc.load(io.BytesIO(_oci_layout(rootfs_tar, False, "latest", docker25=True)))
    assert lines == ["Loaded image: d25:latest"]
    assert svc.get("d25").config["Cmd"] == ["sh"]


def test_load_rejects_wrong_diff_id(svc, rootfs_tar):
    data = _oci_layout(rootfs_tar, False, "localhost/bad:1")
    # swap the layer for another tar while keeping the config's diff id
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src:
            content = src.extractfile(m).read()
            if len(content) > 100000:  # the layer blob
                other = io.BytesIO()
                with tarfile.open(fileobj=other, mode="w") as t:
                    info = tarfile.TarInfo("x")
                    t.addfile(info, io.BytesIO(b""))
                content = other.getvalue()
                m.size = len(content)
            dst.addfile(m, io.BytesIO(content))
    with pytest.raises(InvalidArgument, match="invalid diffID"):
        svc.load(io.BytesIO(out.getvalue()))
    with pytest.raises(ImageNotFound):
        svc.get("localhost/bad:1")


def test_container_rootfs_changes_export(svc, rootfs_tar, tmp_path):
    img = _import(svc, rootfs_tar)
    cid = os.urandom(32).hex()
    mounts = svc.prepare_rootfs(cid, img.id)
    target = tmp_path / "mnt"
    target.mkdir()
    use_mounts = svc.driver_name == "overlay2"
    if use_mounts:
        from hako.store.mount import mount_all, unmount

        mount_all(mounts, str(target))
        root = str(target)
    else:
        root = mounts[0].source
    try:
        os.unlink(os.path.join(root, "etc/hostname"))
        with open(os.path.join(root, "tmp/new"), "w") as f:
            f.write("x")
    finally:
        if use_mounts:
            unmount(str(target))
    changes = svc.changes(cid)
    assert {"Path": "/etc/hostname", "Kind": 2} in changes
    assert {"Path": "/tmp/new", "Kind": 1} in changes
    assert {"Path": "/tmp", "Kind": 0} in changes
    data = b"".join(svc.export(cid))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = set(tf.getnames())
    assert "tmp/new" in names and "bin/busybox" in names and "etc/hostname" not in names
    rw, total = svc.rootfs_size(cid)
    assert total >= rw >= 0
    with pytest.raises(Conflict):
        svc.remove(img.id, force=True, containers_using=lambda i: [(cid, True)])
    svc.remove_rootfs(cid)
    svc.remove_rootfs(cid)  # idempotent
    svc.remove("busybox")
    assert list(svc.sn.walk()) == []


def test_unsafe_import_leaves_nothing(svc, tmp_path):
    bad = io.BytesIO()
    with tarfile.open(fileobj=bad, mode="w") as tf:
        info = tarfile.TarInfo("../evil")
        tf.addfile(info, io.BytesIO(b""))
    bad.seek(0)
    with pytest.raises(InvalidArgument, match="evil"):
        svc.import_tar(bad, "evil:latest")
    assert list(svc.sn.walk()) == [] and list(svc.content.walk()) == []
    assert svc.content.ingests() == []
