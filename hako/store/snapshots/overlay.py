"""Overlayfs snapshotter: ``snapshots/<n>/fs`` (upperdir) and ``work/``, lowerdir chains.

- active, no parent: a read-write bind mount of ``fs``;
- active with parents: ``overlay`` with ``lowerdir=<parents' fs, top first>``,
  ``upperdir=fs``, ``workdir=work``;
- view of one parent: a read-only bind of the parent's ``fs``; of several: a read-only
  overlay of the lowerdirs only.

Returns Mount values and never mounts. Needs root (and overlay) to *use* the mounts.
Layer 3. May import: errors, support, store.
"""

from __future__ import annotations

import os

from hako.store.mount import Mount
from hako.store.snapshots.base import DirSnapshotter, Kind


class OverlaySnapshotter(DirSnapshotter):
    """See the module docstring. ``root`` is ``<data-root>/snapshots-overlay`` or similar."""

    whiteout_format = "overlay"

    def _populate(self, fs: str, parents: list[int]) -> None:
        os.makedirs(os.path.join(os.path.dirname(fs), "work"), exist_ok=True)

    def _mounts(self, sid: int, kind: Kind, parents: list[int]) -> list[Mount]:
        fs = os.path.join(self._dir(sid), "fs")
        lowers = [os.path.join(self._dir(p), "fs") for p in parents]
        if not parents:
            mode = "ro" if kind == Kind.VIEW else "rw"
            return [Mount(type="bind", source=fs, options=(mode, "rbind"))]
        if kind == Kind.VIEW:
            if len(lowers) == 1:
                return [Mount(type="bind", source=lowers[0], options=("ro", "rbind"))]
            return [Mount(type="overlay", source="overlay", options=("lowerdir=" + ":".join(lowers),))]
        work = os.path.join(self._dir(sid), "work")
        return [
            Mount(
                type="overlay",
                source="overlay",
                options=("index=off", f"workdir={work}", f"upperdir={fs}",
                         "lowerdir=" + ":".join(lowers)),
            )
        ]
