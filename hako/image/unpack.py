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

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

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


class _NullWriter:
    ref = ""

    def write(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


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
    """Applies layer tars into committed snapshots.

    Concurrency: the layer itself is extracted without any lock (into a snapshot of its own
    key); only the check-and-commit of the chain snapshot runs under ``lock`` (the image
    service's lock). Inside ``pinned()``, every chain an unpack uses or makes stays pinned
    until the block ends (after the caller recorded its image): ``rmi``/``prune`` leave
    pinned chains alone (``is_pinned``), so a concurrent removal cannot delete a layer an
    image that is being loaded, imported or committed is about to reference.
    """

    def __init__(self, content: LocalContentStore, meta: MetadataStore, snapshotter,
                 lock: Any = None) -> None:
        self.content = content
        self.meta = meta
        self.sn = snapshotter
        self.lock = lock if lock is not None else threading.RLock()
        self._pins: Counter[str] = Counter()
        self._local = threading.local()

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Pin the chains this thread's unpacks use until the block ends."""
        outer = getattr(self._local, "pins", None)
        mine: list[str] = []
        self._local.pins = mine
        try:
            yield
        finally:
            self._local.pins = outer
            with self.lock:
                self._pins.subtract(mine)
                self._pins += Counter()  # drop zero counts

    def _pin(self, chain: Digest | str | None) -> None:
        """Pin ``chain`` for the current ``pinned()`` block (lock held)."""
        pins = getattr(self._local, "pins", None)
        if chain and pins is not None:
            pins.append(str(chain))
            self._pins[str(chain)] += 1

    def is_pinned(self, chain: Digest | str) -> bool:
        with self.lock:
            return self._pins[str(chain)] > 0

    def has_chain(self, chain: Digest) -> bool:
        try:
            self.sn.stat(str(chain))
            return True
        except NotFound:
            return False

    def have_layers(self, diff_ids: list[Digest]) -> bool:
        """True when every layer's snapshot and blob are already present (then pinned)."""
        with self.lock:
            chains = chain_ids(diff_ids)
            for diff_id, chain in zip(diff_ids, chains):
                rec = self.meta.get_layer(str(diff_id))
                if rec is None or not self.has_chain(chain):
                    return False
                if not self.content.exists(Digest.parse(rec.blob)):
                    return False
            if chains:
                self._pin(chains[-1])
            return True

    def unpack(self, parent: Digest | None, stream: BinaryIO, blob: Any = None,
               verify: Any = None) -> Unpacked:
        """Unpack one layer on top of the snapshot ``parent`` (a chain id, None for base).

        Args:
            blob: the descriptor of a compressed blob already committed to content that
                ``stream`` reads (a pulled layer): it becomes the layer's stored blob, and no
                uncompressed copy is kept.
            verify: called after the layer is extracted and before its snapshot is committed
                (a streamed pull checks the blob's digest there); raising discards the layer.

        Raises:
            InvalidArgument: the layer tar is unsafe or malformed.
        """
        token = os.urandom(8).hex()
        key = f"extract-{token}"
        writer = self.content.writer(f"layer-{token}") if blob is None else _NullWriter()
        try:
            with self.lock:
                mounts = self.sn.prepare(key, str(parent) if parent else "")
                self._pin(parent)
            try:
                root, whiteouts, lowers = apply_target(mounts)
                # inflate, diff-id hash and extraction each in a thread (store.diff)
                plain = tarsafe.decompressed(stream, threaded=True)
                try:
                    diff_id, size = apply_layer(root, _Tee(plain, writer), whiteouts, lowers)
                finally:
                    plain.close()
                if verify is not None:
                    verify()
                chain = diff_id if parent is None else chain_ids([parent, diff_id])[1]
                with self.lock:  # another unpack of the same layer may have won the race
                    if self.has_chain(chain):
                        self.sn.remove(key)
                    else:
                        self.sn.commit(str(chain), key)
                    self._pin(chain)
            except BaseException:
                _quiet_remove(self.sn, key)
                raise
            if blob is None:
                self._commit_blob(writer, diff_id, size)
            else:
                self._record_blob(blob, diff_id, size)
        except BaseException:
            writer.close()
            if blob is None:
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

    def _record_blob(self, blob: Any, diff_id: Digest, size: int) -> None:
        rec = self.meta.get_layer(str(diff_id))
        if rec is None or not self.content.exists(Digest.parse(rec.blob)):
            self.meta.add_layer(str(diff_id), str(blob.digest), blob.media_type, size)

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
