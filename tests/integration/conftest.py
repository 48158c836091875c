"""Fixtures shared by the image-store integration tests (store/ and image/)."""

from __future__ import annotations

import os
import shutil

import pytest

from hako.image.service import ImageService
from tests.data.rootfs import make_busybox_rootfs_tar


def overlay_ok() -> bool:
    return os.geteuid() == 0 and "overlay" in open("/proc/filesystems").read()


@pytest.fixture(params=["native", "overlay"])
def svc(request, tmp_path):
    """An ImageService on each snapshotter (overlay skipped without root and overlayfs)."""
    if request.param == "overlay" and not overlay_ok():
        pytest.skip("overlay needs root and overlayfs")
    s = ImageService(str(tmp_path / "root"), request.param)
    try:
        yield s
    finally:
        s.close()
        shutil.rmtree(tmp_path / "root", ignore_errors=True)


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory):
    return make_busybox_rootfs_tar(str(tmp_path_factory.mktemp("rootfs") / "busybox.tar"))
