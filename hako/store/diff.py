"""Apply a layer tar to a snapshot directory (whiteouts, opaque dirs, links, devices).

Two whiteout formats:

- ``"delete"``: the directory holds the full filesystem (native snapshotter, or an overlay
  snapshot without parent); ``.wh.name`` deletes ``name``, ``.wh..wh..opq`` empties the
  directory of everything this layer did not add.
- ``"overlay"``: the directory is an overlay upperdir; ``.wh.name`` becomes a 0:0 character
  device and ``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` xattr (as Docker's overlay2).

Entries that escape the root are refused with InvalidArgument naming the entry (see
``hako.support.tarsafe``). The caller removes the partially written snapshot on failure.

Layer 3. May import: errors, support, oci.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import BinaryIO

from hako.oci.digest import Digest, Digester
from hako.support import tarsafe, untar

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = untar.WHITEOUT_PREFIX
OPAQUE = untar.OPAQUE
META_PREFIX = untar.META_PREFIX
OPAQUE_XATTR = untar.OPAQUE_XATTR
# a layer may hold a whole distribution; the caps only stop bombs
LAYER_LIMITS = untar.Limits(max_entries=5_000_000, max_bytes=None)


class _HashingReader:
    """Reads through ``inner``; a thread of its own hashes every byte (the layer's diff id).

    sha256 releases the GIL, so the hash of a pulled layer runs beside its inflate and
    extraction instead of after each read in the same thread (a third of that thread's time).
    """

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._digester = Digester()
        self._q: queue.Queue = queue.Queue(maxsize=64)
        self._thread = threading.Thread(target=self._run, name="hako-diffid", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._q.get()
            if data is None:
                return
            self._digester.update(data)

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self._q.put(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def digest(self) -> Digest:
        self.close()
        return self._digester.digest()

    def close(self) -> None:
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()


def apply_layer(
    root: str,
    fileobj: BinaryIO,
    whiteouts: str = "delete",
    lowerdirs: Sequence[str] = (),
) -> tuple[Digest, int]:
    """Unpack a (plain, gzip or zstd) layer tar into ``root`` with the one extractor.

    Args:
        root: the snapshot directory to write (must exist).
        fileobj: the layer stream.
        whiteouts: "delete" or "overlay" (see the module docstring).
        lowerdirs: for "overlay", the lower directories (top first), used for hardlinks
            whose target lives in a lower layer.

    Returns:
        (diff id of the uncompressed tar, total size of the regular files written).

    Raises:
        InvalidArgument: an entry escapes the root, or the tar is malformed.
    """
    if whiteouts not in ("delete", "overlay"):
        raise ValueError(whiteouts)
    reader = _HashingReader(tarsafe.decompressed(fileobj))
    opts = untar.Options(whiteouts=whiteouts, lowerdirs=lowerdirs, owner="keep",
                         specials=untar.CREATE, xattrs=True, links_to_existing=True,
                         limits=LAYER_LIMITS)
    try:
        res = untar.extract(reader, root, opts, compressed=False)
        reader.drain()
        return reader.digest(), res.size
    finally:
        reader.close()


