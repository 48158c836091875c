"""Directory flags for the directories that hold one subdirectory per container.

Layer: support (1). May import: nothing of hako.

``chattr +T`` (``FS_TOPDIR_FL``) tells ext4's Orlov allocator that a directory's
subdirectories are the tops of unrelated hierarchies: it spreads them over the block groups
instead of packing them into their parent's group. hakod makes and removes a few dozen
inodes per container, all below a handful of such directories (``containers/``,
``snapshots/``, the bundles and the runtime's state). Packed into one group, every new
inode there is found by a scan from the start of the group, and on an ext4 without a
journal that scan skips (one buffer lookup each) every inode freed in the last 5-35 s
(``recently_deleted`` in fs/ext4/ialloc.c): with containers started and removed at a
steady rate, each start pays for all the recent removals, and 20 ``run --rm`` at once
spent a tenth of their CPU there. Spread, each container's inodes share a group with few
recent removals. Other filesystems either keep the flag as a hint or refuse it; either way
nothing else changes, so a refusal is ignored.
"""

from __future__ import annotations

import os
import struct
import sys

_LONG = struct.calcsize("l")  # the ioctls are declared with a long (4 bytes on 32-bit)
FS_IOC_GETFLAGS = 0x80006601 | _LONG << 16  # _IOR('f', 1, long); the kernel uses an int
FS_IOC_SETFLAGS = 0x40006602 | _LONG << 16  # _IOW('f', 2, long)
FS_TOPDIR_FL = 0x00020000


def mark_topdir(path: str) -> bool:
    """Set ``FS_TOPDIR_FL`` on the directory ``path`` (kept if already set).

    Returns:
        True when the directory carries the flag afterwards; False when its filesystem
        (or the caller's privilege) does not allow it, which is harmless.
    """
    return _with_flags(path, set_topdir=True)


def has_topdir(path: str) -> bool:
    """Whether ``path`` carries ``FS_TOPDIR_FL`` (False when its flags cannot be read)."""
    return _with_flags(path, set_topdir=False)


def _with_flags(path: str, set_topdir: bool) -> bool:
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        flags = int.from_bytes(buf[:4], sys.byteorder)  # a native int at the start
        if set_topdir and not flags & FS_TOPDIR_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, (flags | FS_TOPDIR_FL).to_bytes(4, sys.byteorder) + bytes(4))
            flags |= FS_TOPDIR_FL
        return bool(flags & FS_TOPDIR_FL)
    except OSError:  # ENOTTY, EOPNOTSUPP, EINVAL (tmpfs, xfs, fuse...), EPERM
        return False
    finally:
        os.close(fd)
