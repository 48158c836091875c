"""A daemon killed mid-write restarts onto a consistent store: leftovers are swept."""

from __future__ import annotations

import io
import os
import shutil

import pytest

from hako.image.service import ImageService
from tests.data.rootfs import make_busybox_rootfs_tar

pytestmark = pytest.mark.integration


def test_restart_sweeps_interrupted_work(tmp_path):
    root = str(tmp_path / "root")
    svc = ImageService(root, "native")
    try:
        tar = make_busybox_rootfs_tar(str(tmp_path / "bb.tar"))
        with open(tar, "rb") as f:
            img = svc.import_tar(f, "busybox:latest")
        svc.prepare_rootfs("c" * 64, img.id)
        # simulate a crash in the middle of an extraction and of an upload
        svc.sn.prepare("extract-deadbeef", "")
        w = svc.content.writer("layer-crashed")
        w.write(b"partial")
        w.close()
        stray = svc.content.put_bytes(b"orphan blob")
        os.makedirs(os.path.join(root, "snapshots", "new-999"))
        os.makedirs(os.path.join(root, "tmp", "load-x"))
    finally:
        svc.close()
    svc2 = ImageService(root, "native")
    try:
        names = {i.name for i in svc2.sn.walk()}
        assert "extract-deadbeef" not in names
        assert "container-" + "c" * 64 in names
        assert svc2.get("busybox").id == img.id
        assert svc2.content.ingests() == []
        assert not svc2.content.exists(stray)
        assert not os.path.exists(os.path.join(root, "snapshots", "new-999"))
        assert not os.path.exists(os.path.join(root, "tmp"))
        data = b"".join(svc2.save(["busybox"]))  # still complete
        svc2.remove_rootfs("c" * 64)
        svc2.remove("busybox")
        assert svc2.load(io.BytesIO(data)) == ["Loaded image: busybox:latest"]
    finally:
        svc2.close()
        shutil.rmtree(root, ignore_errors=True)
