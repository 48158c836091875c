"""``hako system check``: the store and the container records agree (after a crash too).

Adds to ``hako.image.check`` what only the daemon knows: every container record has its
rootfs snapshot, and a container is running (or paused) exactly when its shim is alive.

Layer 6. May import: everything below.
"""

from __future__ import annotations

from typing import Any

from hako.daemon.state import Status


def problems(containers: Any, images: Any) -> list[str]:
    from hako.daemon import bundle
    from hako.errors import NotFound
    from hako.image import check
    from hako.image.rootfs import key_for

    records = containers.list()
    out = check.problems(images, [c.id for c in records])
    for c in records:
        if c.state.status in (Status.REMOVING, Status.DEAD):
            continue  # a removal that failed or was cut short (moby's "dead"): rm finishes it
        try:
            images.sn.stat(key_for(c.id))
        except NotFound:
            out.append(f"container {c.id}: rootfs snapshot missing")
        alive = bundle.load_shim(containers, c) is not None
        if c.state.status in (Status.RUNNING, Status.PAUSED) and not alive:
            out.append(f"container {c.id}: {c.state.status.value} but its shim is gone")
        if c.state.status in (Status.CREATED, Status.EXITED, Status.DEAD) and alive:
            out.append(f"container {c.id}: {c.state.status.value} but a shim still runs")
    return out
