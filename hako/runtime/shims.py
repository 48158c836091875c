"""The one place that knows there are two shims: hako's Python shim and conmon.

Layer: runtime (3). May import: hako.runtime.shimclient, conmon_spawn, conmon_handle.

``spawn`` starts the shim the daemon is configured with (``hakod --shim hako|conmon``);
``load`` and ``read_exit_status`` recognise either from what its state dir holds
(``shim.json``/``exit.json`` or ``conmon.json``/``exits/``), so a hakod restarted with
the other shim still re-adopts, and reports the exits of, the containers it left.
"""

from __future__ import annotations

import os
from typing import Any

KINDS = ("hako", "conmon")


def spawn(kind: str, **kw: Any) -> Any:
    """Start a shim of ``kind`` that creates the container (``shimclient.spawn``'s arguments).

    Raises:
        InvalidArgument: an unknown kind. Otherwise as ``shimclient.spawn``.
    """
    if kind == "conmon":
        from hako.runtime import conmon_spawn

        return conmon_spawn.spawn(**kw)
    if kind != "hako":
        from hako.errors import InvalidArgument

        raise InvalidArgument(f"unknown shim {kind!r} (expected one of {', '.join(KINDS)})")
    from hako.runtime import shimclient

    return shimclient.spawn(**kw)


def _is_conmon(state_dir: str) -> bool:
    from hako.runtime.conmon_spawn import RECORD

    return os.path.exists(os.path.join(state_dir, RECORD))


def load(state_dir: str) -> Any:
    """The live shim's handle of a state dir (either kind), or None."""
    if _is_conmon(state_dir):
        from hako.runtime.conmon_handle import ConmonHandle

        return ConmonHandle.load(state_dir)
    from hako.runtime import shimclient

    return shimclient.ShimHandle.load(state_dir)


def read_exit_status(state_dir: str) -> dict | None:
    """The exit record of a container's state dir (either kind), or None."""
    if _is_conmon(state_dir):
        from hako.runtime.conmon_handle import read_exit_status as conmon_exit

        return conmon_exit(state_dir)
    from hako.runtime import shimclient

    return shimclient.read_exit_status(state_dir)
