"""The image lock covers metadata commits only (issue 6): a ``load`` or ``import`` whose
input is still arriving does not block other image operations, and a removal running
meanwhile cannot delete a layer that the image being loaded is about to reference."""

from __future__ import annotations

import io
import threading

import pytest

from hako.oci.digest import Digest

pytestmark = pytest.mark.integration


class _Gated(io.RawIOBase):
    """A stream that blocks on its first read until ``gate`` is set."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.gate = threading.Event()
        self.reading = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        self.reading.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return self.data.readinto(b)


def _in_thread(fn, *args):
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _lock_free(svc) -> bool:
    if svc.lock.acquire(timeout=5):
        svc.lock.release()
        return True
    return False


@pytest.fixture
def base(svc, rootfs_tar):
    with open(rootfs_tar, "rb") as f:
        return svc.import_tar(f, "busybox:latest", ['CMD ["sh"]'])


def test_load_does_not_hold_the_lock(svc, base):
    archive = b"".join(svc.save(["busybox:latest"]))
    svc.tag("busybox:latest", "other", "1")
    svc.remove("busybox:latest")
    stream = _Gated(archive)
    t, out = _in_thread(svc.load, io.BufferedReader(stream))
    try:
        assert stream.reading.wait(10)
        assert _lock_free(svc), "load holds the image lock while reading its input"
        svc.tag("other:1", "meanwhile", "latest")  # other image work proceeds
    finally:
        stream.gate.set()
        t.join(60)
    assert "error" not in out, out.get("error")
    assert svc.get("busybox:latest").id == base.id


def test_import_does_not_hold_the_lock(svc, rootfs_tar):
    with open(rootfs_tar, "rb") as f:
        stream = _Gated(f.read())
    t, out = _in_thread(svc.import_tar, io.BufferedReader(stream), "imported:latest")
    try:
        assert stream.reading.wait(10)
        assert _lock_free(svc), "import holds the image lock while unpacking"
    finally:
        stream.gate.set()
        t.join(60)
    assert "error" not in out, out.get("error")
    assert svc.get("imported:latest").layers


def test_pinned_chain_survives_rmi(svc, base):
    """An unpack that found its layer already present pins it: the removal of the only
    image using it meanwhile leaves the snapshot for the image being recorded."""
    chain = base.layers[0]  # one layer: its chain id is its diff id
    with svc.unpacker.pinned():
        assert svc.unpacker.have_layers([Digest.parse(chain)])
        svc.remove("busybox:latest")
        assert svc.unpacker.has_chain(chain), "rmi removed a pinned layer"
    assert not svc.unpacker.is_pinned(chain)
