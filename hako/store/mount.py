"""The store's Mount: ``hako.linux.mount.Mount`` plus long-overlay handling.

Snapshotters return these values and never mount anything themselves; the runtime (or the
image service, for export) applies them. ``Mount`` *is* a ``hako.linux.mount.Mount`` (the one
currency between store and runtime), with two additions:

- ``option(name)`` reads ``name=value`` words (``upperdir``, ``lowerdir``);
- ``mount(target)`` copes with overlay option strings longer than mount(2)'s one-page data
  limit (many layers): the lower/upper/work paths are made relative to their common parent
  and the ``mount`` binary runs with that directory as its working directory (no chdir in
  this multithreaded process).

Layer 3. May import: errors, linux.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Sequence

from hako.errors import Internal
from hako.linux import mount as _linux

_DATA_MAX = 3500
_PATH_KEYS = ("lowerdir", "upperdir", "workdir")


class Mount(_linux.Mount):
    """See the module docstring. Fields: type, source, target, options."""

    __slots__ = ()

    def option(self, name: str) -> str | None:
        """The value of ``name=value`` in the options, or None."""
        prefix = name + "="
        for opt in self.options:
            if opt.startswith(prefix):
                return opt[len(prefix):]
        return None

    def mount(self, target: str | None = None) -> None:
        """Mount at ``target`` (default ``self.target``).

        Raises:
            OSError / Internal: the kernel or mount(8) refused.
        """
        dest = target or self.target
        if self.type == "overlay" and len(",".join(self.options)) > _DATA_MAX:
            _mount_overlay_relative(self, dest)
            return
        _linux.Mount.mount(self, dest)


def _mount_overlay_relative(m: Mount, where: str) -> None:
    paths = [p for opt in m.options if opt.partition("=")[0] in _PATH_KEYS
             for p in opt.partition("=")[2].split(":")]
    base = os.path.commonpath(paths)
    opts = []
    for opt in m.options:
        key, _, value = opt.partition("=")
        if key in _PATH_KEYS:
            value = ":".join(os.path.relpath(p, base) for p in value.split(":"))
            opts.append(f"{key}={value}")
        elif opt != "rw":
            opts.append(opt)
    proc = subprocess.run(
        ["mount", "-t", "overlay", "-o", ",".join(opts), m.source, where],
        cwd=base, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise Internal(f"mount overlay on {where}: {proc.stderr.strip()}")


def mount_all(mounts: Sequence[_linux.Mount], target: str) -> None:
    """Apply ``mounts`` in order at ``target``; on failure undo the ones done."""
    _linux.mount_all(list(mounts), target)


def unmount(target: str, detach: bool = False) -> None:
    """Unmount ``target`` once; "not mounted" is not an error.

    Raises:
        OSError: umount2(2) failed otherwise.
    """
    try:
        _linux.unmount(target, 0x2 if detach else 0)  # MNT_DETACH
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise
