"""Garbage collection: mark (roots: images, their layers, containers) and sweep.

Roots are the image configs recorded in the metadata store; from each config we mark its
layer blobs (by diff id) and its chain-id snapshots. Active snapshots are kept unless they
are leftovers of an interrupted layer extraction (``extract-*``, see ``image.unpack``);
committed snapshots that no image chain and no kept snapshot builds on are swept. Content
blobs not marked, and ingests, are swept. Run it when nothing else writes to the store
(at daemon start) or under the image service lock.

Layer 3. May import: errors, support, oci, store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hako.errors import Conflict, NotFound
from hako.oci import imageconfig
from hako.oci.digest import Digest
from hako.store.snapshots.base import Kind

log = logging.getLogger(__name__)
EXTRACT_PREFIX = "extract-"


@dataclass
class Report:
    blobs: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    ingests: list[str] = field(default_factory=list)


def _mark(content, meta, leased: set[str] = frozenset()) -> tuple[set[str], set[str]]:
    blobs: set[str] = set(leased)
    live_diffs: set[str] = set()
    chains: set[str] = set()
    for rec in meta.images():
        blobs.add(rec.id)
        if rec.manifest:
            blobs.add(rec.manifest)
        try:
            raw = imageconfig.parse_config(content.read_bytes(Digest.parse(rec.id)))
        except NotFound:
            log.warning("image %s has no config blob", rec.id)
            continue
        diff_ids = imageconfig.diff_ids(raw)
        live_diffs.update(str(d) for d in diff_ids)
        for d in diff_ids:
            layer = meta.get_layer(str(d))
            if layer is not None:
                blobs.add(layer.blob)
        chains.update(str(c) for c in imageconfig.chain_ids(diff_ids))
    for digest, diff_id in meta.distribution_digests():  # compressed blobs of live layers
        if diff_id in live_diffs:
            blobs.add(digest)
    return blobs, chains


def collect(content, meta, snapshotter, sweep_ingests: bool = True,
            leased: set[str] = frozenset()) -> Report:
    """Sweep everything not reachable from the roots (and not ``leased``: blobs a pull is
    writing). Returns what was removed."""
    report = Report()
    blobs, chains = _mark(content, meta, set(leased))
    infos = {i.name: i for i in snapshotter.walk()}
    keep: set[str] = set()
    for name, info in infos.items():
        if info.kind != Kind.COMMITTED and not name.startswith(EXTRACT_PREFIX):
            keep.add(name)
    keep |= chains & set(infos)
    for name in list(keep):  # ancestors of kept snapshots stay too
        parent = infos[name].parent
        while parent and parent in infos:
            keep.add(parent)
            parent = infos[parent].parent
    for name in _leaves_first(infos):
        if name in keep:
            continue
        try:
            snapshotter.remove(name)
            report.snapshots.append(name)
        except (Conflict, NotFound):
            continue
    for info in list(content.walk()):
        if str(info.digest) not in blobs:
            content.delete(info.digest)
            report.blobs.append(str(info.digest))
    if sweep_ingests:
        for st in content.ingests():
            content.abort(st.ref)
            report.ingests.append(st.ref)
        report.ingests.extend(content.remove_incomplete_ingests())
    for diff_id in meta.layer_ids():
        layer = meta.get_layer(diff_id)
        if layer is not None and layer.blob not in blobs:
            meta.remove_layer(diff_id)
    for digest, _ in meta.distribution_digests():
        if digest not in blobs:
            meta.remove_distribution(digest)
    return report


def _leaves_first(infos: dict) -> list[str]:
    depth: dict[str, int] = {}

    def d(name: str) -> int:
        if name not in depth:
            parent = infos[name].parent
            depth[name] = 0 if not parent or parent not in infos else d(parent) + 1
        return depth[name]

    return sorted(infos, key=d, reverse=True)
