"""Mount values: the one currency between snapshotters and whoever applies them.

Snapshotters return ``Mount`` lists and never mount anything themselves; the runtime (or the
image service, for export) applies them with :func:`mount_all` and undoes them with
:func:`unmount`. (Meant to move to ``hako.linux.mount`` once that module exists.)

Long overlay option strings (many layers) exceed the one-page limit of mount(2) data; then
the lower/upper/work paths are made relative to their common parent and the ``mount``
binary is run with that directory as its working directory (no chdir in this process).

Layer 3. May import: errors.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from hako.errors import Internal

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2
_FLAGS = {
    "ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
    "bind": MS_BIND, "rbind": MS_BIND | MS_REC,
}
_DATA_MAX = 4000
_libc = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return _libc


@dataclass(frozen=True)
class Mount:
    """A mount to apply: ``mount -t type -o options source target``."""

    type: str
    source: str
    target: str = ""
    options: tuple[str, ...] = field(default=())

    def flags_and_data(self) -> tuple[int, str]:
        """Split options into mount(2) flags and the fs-specific data string."""
        flags, data = 0, []
        for opt in self.options:
            if opt in _FLAGS:
                flags |= _FLAGS[opt]
            elif opt == "rw":
                continue
            else:
                data.append(opt)
        if self.type == "bind":
            flags |= MS_BIND
        return flags, ",".join(data)

    def option(self, name: str) -> str | None:
        """The value of ``name=value`` in the options, or None."""
        prefix = name + "="
        for opt in self.options:
            if opt.startswith(prefix):
                return opt[len(prefix):]
        return None

    def mount(self, target: str) -> None:
        """Mount at ``target`` (joined with ``self.target`` when set).

        Raises:
            Internal: mount(2) failed.
        """
        where = os.path.join(target, self.target.lstrip("/")) if self.target else target
        flags, data = self.flags_and_data()
        if self.type == "overlay" and len(data) > _DATA_MAX:
            _mount_overlay_relative(self, where, flags)
            return
        fstype = None if flags & MS_BIND else self.type
        _sys_mount(self.source, where, fstype, flags & ~MS_RDONLY if flags & MS_BIND else flags, data)
        if flags & MS_BIND and flags & MS_RDONLY:
            _sys_mount("", where, None, MS_BIND | MS_REMOUNT | MS_RDONLY | (flags & MS_REC), "")


def _sys_mount(source: str, target: str, fstype: str | None, flags: int, data: str) -> None:
    res = _lib().mount(
        source.encode(), target.encode(), fstype.encode() if fstype else None,
        ctypes.c_ulong(flags), data.encode() if data else None,
    )
    if res != 0:
        err = ctypes.get_errno()
        raise Internal(f"mount {source} on {target} ({fstype}): {os.strerror(err)}")


def _mount_overlay_relative(m: Mount, where: str, flags: int) -> None:
    paths = [p for opt in m.options if "=" in opt and opt.split("=", 1)[0] in
             ("lowerdir", "upperdir", "workdir") for p in opt.split("=", 1)[1].split(":")]
    base = os.path.commonpath(paths)
    opts = []
    for opt in m.options:
        key, _, value = opt.partition("=")
        if key in ("lowerdir", "upperdir", "workdir"):
            value = ":".join(os.path.relpath(p, base) for p in value.split(":"))
            opts.append(f"{key}={value}")
        elif opt not in ("rw",):
            opts.append(opt)
    proc = subprocess.run(
        ["mount", "-t", "overlay", "-o", ",".join(opts), m.source, where],
        cwd=base, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise Internal(f"mount overlay on {where}: {proc.stderr.strip()}")


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Apply ``mounts`` in order at ``target``; on failure undo the ones done."""
    done = 0
    try:
        for m in mounts:
            m.mount(target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target, detach=True)
        raise


def unmount(target: str, detach: bool = False) -> None:
    """Unmount ``target`` (ignores "not mounted").

    Raises:
        Internal: umount2(2) failed otherwise.
    """
    res = _lib().umount2(target.encode(), MNT_DETACH if detach else 0)
    if res != 0:
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        raise Internal(f"unmount {target}: {os.strerror(err)}")
