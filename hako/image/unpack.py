"""Layer chain → committed snapshots named by chain id, and layer tars kept in content.

``Unpacker.unpack(parent_chain, stream)`` streams one layer (plain, gzip or zstd): the
uncompressed bytes are written to a content ingest (their digest is the diff id) while the
same bytes are applied into a fresh active snapshot on top of ``parent_chain``. Then the
snapshot is committed as the chain id (or thrown away when that chain id already exists:
layers are unpacked once per chain id) and the layer blob is committed by digest. On any
failure the active snapshot and the ingest are removed: no partial snapshot remains.

Layer 4. May import: errors, support, oci, store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from hako.errors import AlreadyExists, NotFound
from hako.oci import mediatypes as mt
from hako.oci.digest import Digest
from hako.oci.imageconfig import chain_ids
from hako.store.content import LocalContentStore, Writer
from hako.store.diff import apply_layer
from hako.store.metadata import MetadataStore
from hako.store.mount import Mount
from hako.support import tarsafe


@dataclass(frozen=True)
class Unpacked:
    diff_id: Digest
    chain_id: Digest
    size: int


class _Tee:
    def __init__(self, inner: BinaryIO, writer: Writer) -> None:
        self._inner, self._writer = inner, writer

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self._writer.write(data)
        return data


def apply_target(mounts: list[Mount]) -> tuple[str, str, list[str]]:
    """Where and how to apply a layer for a snapshot's mounts: (dir, whiteouts, lowerdirs)."""
    m = mounts[0]
    if m.type == "overlay":
        upper = m.option("upperdir")
        lowers = (m.option("lowerdir") or "").split(":")
        if upper is None:
            raise ValueError("read-only overlay mounts cannot take a layer")
        return upper, "overlay", [low for low in lowers if low]
    return m.source, "delete", []


class Unpacker:
    def __init__(self, content: LocalContentStore, meta: MetadataStore, snapshotter) -> None:
        self.content = content
        self.meta = meta
        self.sn = snapshotter

    def has_chain(self, chain: Digest) -> bool:
        try:
            self.sn.stat(str(chain))
            return True
        except NotFound:
            return False

    def have_layers(self, diff_ids: list[Digest]) -> bool:
        """True when every layer's snapshot and blob are already present."""
        for diff_id, chain in zip(diff_ids, chain_ids(diff_ids)):
            rec = self.meta.get_layer(str(diff_id))
            if rec is None or not self.has_chain(chain):
                return False
            if not self.content.exists(Digest.parse(rec.blob)):
                return False
        return True

    def unpack(self, parent: Digest | None, stream: BinaryIO) -> Unpacked:
        """Unpack one layer on top of the snapshot ``parent`` (a chain id, None for base).

        Raises:
            InvalidArgument: the layer tar is unsafe or malformed.
        """
        token = os.urandom(8).hex()
        key = f"extract-{token}"
        writer = self.content.writer(f"layer-{token}")
        try:
            mounts = self.sn.prepare(key, str(parent) if parent else "")
            try:
                root, whiteouts, lowers = apply_target(mounts)
                diff_id, size = apply_layer(
                    root, _Tee(tarsafe.decompressed(stream), writer), whiteouts, lowers
                )
                chain = diff_id if parent is None else chain_ids([parent, diff_id])[1]
                if self.has_chain(chain):
                    self.sn.remove(key)
                else:
                    self.sn.commit(str(chain), key)
            except BaseException:
                _quiet_remove(self.sn, key)
                raise
            self._commit_blob(writer, diff_id, size)
        except BaseException:
            writer.close()
            self.content.abort(writer.ref)
            raise
        return Unpacked(diff_id, chain, size)

    def _commit_blob(self, writer: Writer, diff_id: Digest, size: int) -> None:
        if self.content.exists(diff_id):
            writer.close()
            self.content.abort(writer.ref)
        else:
            writer.commit(diff_id)
        if self.meta.get_layer(str(diff_id)) is None:
            self.meta.add_layer(str(diff_id), str(diff_id), mt.DOCKER_LAYER, size)

    def unpack_chain(self, streams) -> list[Unpacked]:
        """Unpack several layers bottom first; ``streams`` yields one open stream each."""
        out: list[Unpacked] = []
        parent = None
        for stream in streams:
            res = self.unpack(parent, stream)
            out.append(res)
            parent = res.chain_id
        return out


def _quiet_remove(sn, key: str) -> None:
    try:
        sn.remove(key)
    except (NotFound, AlreadyExists):
        pass
