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
_fuse_helper = ""  # fuse-overlayfs's path once ``use_fuse_overlayfs`` chose it


def use_fuse_overlayfs(path: str) -> None:
    """Mount every overlay with fuse-overlayfs (``path``): where the kernel refuses overlay in
    a user namespace, or ``--storage-driver fuse-overlayfs``. Same layout on disk."""
    global _fuse_helper
    _fuse_helper = path


def fuse_overlayfs() -> str:
    return _fuse_helper


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
        if self.type == "overlay" and _fuse_helper:
            _mount_fuse(self, dest)
            return
        if self.type == "overlay" and _in_userns() and "userxattr" not in self.options:
            # overlay's own xattrs are user.overlay.* where trusted.* is out of reach
            self = self._replace(options=self.options + ("userxattr",))
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


_userns: list[bool] = []


def _in_userns() -> bool:
    """Not root of the host (a rootless hakod): overlay needs ``userxattr`` (Linux 5.11)."""
    if not _userns:
        from hako.linux.idmaps import privileged

        _userns.append(not privileged())
    return _userns[0]


def _mount_fuse(m: Mount, where: str) -> None:
    """fuse-overlayfs with the overlay's own options; it daemonizes once mounted and exits
    when the mount is unmounted."""
    opts = [o for o in m.options if o.partition("=")[0] in _PATH_KEYS or o in ("ro",)]
    proc = subprocess.run([_fuse_helper, "-o", ",".join(opts), where],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise Internal(f"fuse-overlayfs on {where}: {proc.stderr.strip() or proc.returncode}")


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
