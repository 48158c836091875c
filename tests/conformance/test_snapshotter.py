"""Run the snapshotter conformance suite against NativeSnapshotter and OverlaySnapshotter.

The overlay run applies the returned mounts for real (root and overlayfs needed): it is
marked integration and skips otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from snapshotter_suite import CHECKS  # noqa: E402

from hako.store.mount import mount_all, unmount  # noqa: E402
from hako.store.snapshots.native import NativeSnapshotter  # noqa: E402
from hako.store.snapshots.overlay import OverlaySnapshotter  # noqa: E402


def _overlay_ok() -> bool:
    if os.geteuid() != 0:
        return False
    with open("/proc/filesystems") as f:
        return "overlay" in f.read()


class Harness:
    def __init__(self, cls, root: str, mount: bool) -> None:
        self.cls, self.root, self.use_mounts = cls, root, mount
        self.sn = cls(root)

    def reopen(self) -> None:
        self.sn.close()
        self.sn = self.cls(self.root)

    @contextlib.contextmanager
    def _mounted(self, mounts):
        if not self.use_mounts:
            yield mounts[0].source
            return
        target = tempfile.mkdtemp(prefix="sn-mnt-", dir=self.root)
        mount_all(mounts, target)
        try:
            yield target
        finally:
            unmount(target)
            os.rmdir(target)

    def active(self, key: str):
        return self._mounted(self.sn.mounts(key))

    def read(self, key: str):
        return self._mounted(self.sn.mounts(key))


@pytest.fixture(params=["native", pytest.param("overlay", marks=pytest.mark.integration)])
def harness(request, tmp_path):
    if request.param == "overlay":
        if not _overlay_ok():
            pytest.skip("overlay snapshotter needs root and overlayfs")
        h = Harness(OverlaySnapshotter, str(tmp_path / "sn"), mount=True)
    else:
        h = Harness(NativeSnapshotter, str(tmp_path / "sn"), mount=False)
    try:
        yield h
    finally:
        h.sn.close()
        shutil.rmtree(tmp_path / "sn", ignore_errors=True)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_snapshotter(harness, check):
    check(harness)
