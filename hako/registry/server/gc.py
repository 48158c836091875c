"""``hako registry gc``: remove blobs no manifest of any repository references.

Mark: every manifest revision of every repository (with ``delete_untagged``, revisions no tag
reaches — directly or through a tagged index — are unlinked first), its config and layers,
and the manifests an index lists. Sweep: content blobs not marked, and the repositories'
layer links to them. Uploads in progress (ingests) are left alone, but a blob uploaded for a
manifest not yet put would be swept: like distribution's ``garbage-collect``, run it while
the registry is stopped or ``--read-only``.

Layer 4. May import: errors, support, oci, store, registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hako.errors import EngineError
from hako.oci import manifest as oci_manifest
from hako.oci.digest import Digest
from hako.registry.server.storage import Storage


@dataclass
class GcReport:
    blobs: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)


def _revisions(storage: Storage, repo: str) -> list[Digest]:
    base = os.path.join(storage.root, "repositories", repo, "_manifests", "revisions", "sha256")
    try:
        return [Digest("sha256", h) for h in sorted(os.listdir(base)) if not h.startswith(".")]
    except FileNotFoundError:
        return []


def _children(storage: Storage, digest: Digest) -> list[Digest]:
    try:
        doc = oci_manifest.parse(storage.content.read_bytes(digest))
    except EngineError:
        return []
    if isinstance(doc, oci_manifest.Index):
        return [d.digest for d in doc.manifests]
    return [doc.config.digest, *(d.digest for d in doc.layers)]


def collect(storage: Storage, delete_untagged: bool = False, dry_run: bool = False) -> GcReport:
    report = GcReport()
    marked: set[Digest] = set()
    for repo in storage.catalog():
        revisions = _revisions(storage, repo)
        if delete_untagged:
            reached: set[Digest] = set()
            todo = [storage.resolve(repo, t) for t in storage.tags(repo)]
            while todo:
                d = todo.pop()
                if d in reached:
                    continue
                reached.add(d)
                todo.extend(c for c in _children(storage, d) if c in revisions)
            for d in revisions:
                if d not in reached:
                    report.manifests.append(f"{repo}@{d}")
                    if not dry_run:
                        os.unlink(storage._link(repo, "_manifests/revisions", d))
            revisions = [d for d in revisions if d in reached]
        for d in revisions:
            marked.add(d)
            marked.update(_children(storage, d))
    for info in list(storage.content.walk()):
        if info.digest in marked:
            continue
        report.blobs.append(str(info.digest))
        if dry_run:
            continue
        storage.content.delete(info.digest)
        base = os.path.join(storage.root, "repositories")
        for dirpath, dirs, files in os.walk(base):
            if os.path.basename(dirpath) == info.digest.algorithm and \
                    os.path.basename(os.path.dirname(dirpath)) == "_layers" and info.digest.hex in files:
                os.unlink(os.path.join(dirpath, info.digest.hex))
    return report
