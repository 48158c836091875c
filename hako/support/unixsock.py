"""Connecting unix sockets whose path may be longer than ``sun_path`` allows.

A state directory under a deep ``--exec-root`` easily makes a socket path longer than the
108 bytes of ``sun_path``. Such a path is reached through its directory's descriptor:
``/proc/self/fd/N/name`` is short whatever the directory.

Layer 1. May import: nothing.
"""

from __future__ import annotations

import os
import socket

_SHORT = 100  # below sun_path's 108 bytes, with room for its terminating NUL


def connect_unix(sock: socket.socket, path: str) -> None:
    """Connect ``sock`` (AF_UNIX, any type) to ``path``; on failure ``sock`` is closed.

    Raises:
        OSError: nothing listens there.
    """
    try:
        if len(path.encode()) < _SHORT:
            sock.connect(path)
            return
        dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_CLOEXEC)
        try:
            sock.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
        finally:
            os.close(dfd)
    except BaseException:
        sock.close()
        raise
