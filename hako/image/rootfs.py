"""Container root filesystems: an active snapshot per container on top of its image.

The snapshot key is ``container-<id>``; its parent is the chain id of the image's top layer.
Layer 4. May import: errors, support, oci, store.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

from hako.errors import AlreadyExists, ImageNotFound, NotFound
from hako.oci import imageconfig
from hako.oci.digest import Digest
from hako.store import changes as chg
from hako.image.streaming import threaded_stream
from hako.store.mount import Mount, mount_all, unmount


def key_for(container_id: str) -> str:
    return f"container-{container_id}"


def prepare(svc, container_id: str, image_id: str | None) -> list[Mount]:
    """Create the container's active snapshot and return its mounts.

    ``image_id`` None or "" gives an empty rootfs (``FROM scratch``).

    Raises:
        ImageNotFound: unknown image; AlreadyExists: the container already has a rootfs.
    """
    top = None
    if image_id:
        if svc.meta.get_image(image_id) is None:
            raise ImageNotFound(f"No such image: {image_id}")
        raw = imageconfig.parse_config(svc.content.read_bytes(Digest.parse(image_id)))
        top = imageconfig.chain_id(imageconfig.diff_ids(raw))
    try:
        return svc.sn.prepare(key_for(container_id), str(top) if top else "",
                              {"hako.container": container_id})
    except AlreadyExists as exc:
        raise AlreadyExists(f"rootfs for container {container_id} already exists") from exc


def mounts(svc, container_id: str) -> list[Mount]:
    return svc.sn.mounts(key_for(container_id))


def remove(svc, container_id: str) -> None:
    """Remove the container's snapshot (no error when it does not exist)."""
    try:
        svc.sn.remove(key_for(container_id))
    except NotFound:
        pass


def changes(svc, container_id: str) -> list[chg.Change]:
    """Docker's change list of the container's writable layer."""
    key = key_for(container_id)
    fs = svc.sn.fs_dir(key)
    parents = svc.sn.parent_dirs(key)
    if getattr(svc.sn, "whiteout_format", "") == "overlay":
        return [c for c in chg.overlay_changes(fs, parents)]
    return chg.dir_changes(parents[0] if parents else None, fs)


def size(svc, container_id: str) -> tuple[int, int]:
    """(size of the writable layer, size of the whole root filesystem)."""
    key = key_for(container_id)
    info = svc.sn.stat(key)
    rw = svc.sn.usage(key).size
    base = 0
    if getattr(svc.sn, "whiteout_format", "") == "overlay":
        base = sum(svc.sn.usage(p).size for p in _ancestors(svc.sn, info.parent))
        return rw, rw + base
    parent_usage = svc.sn.usage(info.parent).size if info.parent else 0
    return max(rw - parent_usage, 0), rw


def _ancestors(sn, name: str) -> list[str]:
    out = []
    while name:
        out.append(name)
        name = sn.stat(name).parent
    return out


def export(svc, container_id: str, ids=None) -> Iterator[bytes]:
    """A tar stream of the container's flattened root filesystem (owners through ``ids``)."""
    key = key_for(container_id)
    fs = svc.sn.fs_dir(key)
    parents = svc.sn.parent_dirs(key)
    if getattr(svc.sn, "whiteout_format", "") != "overlay" or not parents:
        return _stream_tree(fs, None, ids)
    view = Mount(type="overlay", source="overlay",
                 options=("ro", "lowerdir=" + ":".join([fs] + parents)))
    return _stream_tree(None, view, ids)


def _stream_tree(path: str | None, view: Mount | None, ids=None) -> Iterator[bytes]:
    def write(out) -> None:
        if view is None:
            chg.write_tree(path, out, ids)
            return
        tmp = tempfile.mkdtemp(prefix="hako-export-")
        try:
            mount_all([view], tmp)
            try:
                chg.write_tree(tmp, out, ids)
            finally:
                unmount(tmp, detach=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return threaded_stream(write, "hako-export")
