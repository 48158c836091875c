"""Copy-based snapshotter: every active snapshot is a full copy of its parent's tree.

Works without overlayfs and without root for the bookkeeping; mounts are binds of
``snapshots/<n>/fs`` (read-only for views). Layer 3. May import: errors, support, store.
"""

from __future__ import annotations

import os
import subprocess

from hako.errors import Internal
from hako.store.mount import Mount
from hako.store.snapshots.base import DirSnapshotter, Kind


class NativeSnapshotter(DirSnapshotter):
    """See the module docstring."""

    whiteout_format = "delete"

    def _populate(self, fs: str, parents: list[int]) -> None:
        if not parents:
            return
        src = os.path.join(self._dir(parents[0]), "fs")
        proc = subprocess.run(
            ["cp", "-a", "--reflink=auto", src + "/.", fs + "/"], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise Internal(f"copy snapshot {src}: {proc.stderr.strip()}")

    def _mounts(self, sid: int, kind: Kind, parents: list[int]) -> list[Mount]:
        if kind == Kind.VIEW and parents:
            source = os.path.join(self._dir(parents[0]), "fs")
        else:
            source = os.path.join(self._dir(sid), "fs")
        mode = "ro" if kind == Kind.VIEW else "rw"
        return [Mount(type="bind", source=source, options=(mode, "rbind"))]
