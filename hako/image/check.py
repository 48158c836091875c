"""Store consistency check (``hako system check``): what a crash must never leave behind.

- every image's config blob, layer records, layer blobs and chain-id snapshots are present;
- every snapshot's directory exists, and its parent snapshot exists;
- no orphan snapshot: a committed snapshot is an image chain or an ancestor of something
  kept; an active one belongs to a container (``container-<id>``) the caller knows;
- no interrupted extraction (``extract-*``) or ingest is left.

Read-only: it reports, the daemon's start-up recovery repairs. Each problem is one line
naming the object.

Layer 4. May import: errors, support, oci, store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from hako.errors import NotFound
from hako.image.rootfs import key_for
from hako.oci import imageconfig
from hako.oci.digest import Digest
from hako.store.gc import EXTRACT_PREFIX
from hako.store.snapshots.base import Kind


def problems(svc, container_ids: Iterable[str]) -> list[str]:
    """Everything inconsistent in ``svc``'s store (empty when sound)."""
    out: list[str] = []
    with svc.lock:
        infos = {i.name: i for i in svc.sn.walk()}
        chains: set[str] = set()
        for rec in svc.meta.images():
            try:
                raw = imageconfig.parse_config(svc.content.read_bytes(Digest.parse(rec.id)))
            except NotFound:
                out.append(f"image {rec.id}: config blob missing")
                continue
            diff_ids = imageconfig.diff_ids(raw)
            for diff_id, chain in zip(diff_ids, imageconfig.chain_ids(diff_ids)):
                layer = svc.meta.get_layer(str(diff_id))
                if layer is None:
                    out.append(f"image {rec.id}: layer {diff_id} has no record")
                elif not svc.content.exists(Digest.parse(layer.blob)):
                    out.append(f"image {rec.id}: layer blob {layer.blob} missing")
                if str(chain) not in infos:
                    out.append(f"image {rec.id}: snapshot {chain} missing")
                chains.add(str(chain))
        containers = {key_for(cid) for cid in container_ids}
        keep = set(chains)
        for name, info in infos.items():
            if info.kind == Kind.COMMITTED:
                continue
            if name.startswith(EXTRACT_PREFIX):
                out.append(f"snapshot {name}: interrupted extraction left behind")
            elif name not in containers:
                out.append(f"snapshot {name}: active snapshot of no container")
            keep.add(name)
        for name in list(keep):
            parent = infos[name].parent if name in infos else ""
            while parent:
                if parent not in infos:
                    out.append(f"snapshot {name}: parent {parent} missing")
                    break
                keep.add(parent)
                parent = infos[parent].parent
        for name, info in infos.items():
            if info.kind == Kind.COMMITTED and name not in keep:
                out.append(f"snapshot {name}: orphan (no image or container uses it)")
            fs_dir = getattr(svc.sn, "fs_dir", None)
            if fs_dir is not None and not os.path.isdir(fs_dir(name)):
                out.append(f"snapshot {name}: directory missing")
        ingest = os.path.join(svc.content.root, "ingest") if hasattr(svc.content, "root") else ""
        if ingest and os.path.isdir(ingest):
            out.extend(f"ingest {n}: interrupted write left behind" for n in os.listdir(ingest))
    return out
