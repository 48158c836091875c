"""ctypes wrappers for the Linux system calls CPython 3.11 lacks.

Layer: linux (2). May import: errors. Mechanism only: each function makes exactly one call
and turns a failure into ``OSError(errno, strerror, what)``: ``filename`` describes the call.
Where the running Python has the call in ``os`` (3.12+: ``os.unshare``, ``os.setns``) that
version is used. libc is loaded lazily on first use, so importing this module is cheap.
"""

from __future__ import annotations

import os

# Clone flags (linux/sched.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# umount2 flags.
MNT_DETACH = 2

# prctl options.
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

_SYS_PIVOT_ROOT = 155  # x86_64
_SYS_CAPGET = 125
_SYS_CAPSET = 126

_libc = None


def _lib():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret: int, what: str) -> int:
    if ret < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), what)
    return ret


def _b(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2).

    Raises:
        OSError: the kernel refused; ``filename`` names source, target and type.
    """
    ret = _lib().mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(ret, f"mount {source or ''}:{target} (type {fstype or ''}, flags {flags:#x}, "
                f"data {data or ''!r})")


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2). Raises OSError."""
    _check(_lib().umount2(_b(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2) through syscall(2). Raises OSError."""
    _check(_lib().syscall(_SYS_PIVOT_ROOT, _b(new_root), _b(put_old)),
           f"pivot_root {new_root} {put_old}")


def unshare(flags: int) -> None:
    """unshare(2). Raises OSError."""
    if hasattr(os, "unshare"):
        os.unshare(flags)
        return
    _check(_lib().unshare(flags), f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2) on an open namespace fd. Raises OSError."""
    if hasattr(os, "setns"):
        os.setns(fd, nstype)
        return
    _check(_lib().setns(fd, nstype), f"setns type {nstype:#x}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2). Returns the call's result. Raises OSError."""
    import ctypes

    ul = ctypes.c_ulong
    return _check(_lib().prctl(option, ul(arg2), ul(arg3), ul(arg4), ul(arg5)),
                  f"prctl {option}")


def sethostname(name: str) -> None:
    """sethostname(2). Raises OSError."""
    raw = name.encode()
    _check(_lib().sethostname(raw, len(raw)), f"sethostname {name!r}")


def setdomainname(name: str) -> None:
    """setdomainname(2). Raises OSError."""
    raw = name.encode()
    _check(_lib().setdomainname(raw, len(raw)), f"setdomainname {name!r}")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """capget(2) (version 3, 64-bit sets).

    Returns:
        (effective, permitted, inheritable) as 64-bit masks.
    """
    import ctypes

    header = (ctypes.c_uint32 * 2)(0x20080522, pid)
    data = (ctypes.c_uint32 * 6)()
    _check(_lib().syscall(_SYS_CAPGET, header, data), "capget")
    eff = data[0] | (data[3] << 32)
    perm = data[1] | (data[4] << 32)
    inh = data[2] | (data[5] << 32)
    return eff, perm, inh


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) on the calling thread (version 3, 64-bit masks). Raises OSError."""
    import ctypes

    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    m = 0xFFFFFFFF
    data = (ctypes.c_uint32 * 6)(effective & m, permitted & m, inheritable & m,
                                 effective >> 32, permitted >> 32, inheritable >> 32)
    _check(_lib().syscall(_SYS_CAPSET, header, data), "capset")


# The new mount API (linux/mount.h); syscall numbers are the same on every architecture.
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_IDMAP = 0x100000


def open_tree(path: str, flags: int) -> int:
    """open_tree(2) relative to the cwd; returns the mount fd. Raises OSError."""
    import ctypes

    return _check(_lib().syscall(_SYS_OPEN_TREE, ctypes.c_int(-100), _b(path), ctypes.c_uint(flags)),
                  f"open_tree {path}")


def move_mount_fd(from_fd: int, to_fd: int) -> None:
    """move_mount(2) of the mount ``from_fd`` onto the path ``to_fd`` (both by descriptor).
    Raises OSError."""
    import ctypes

    _check(_lib().syscall(_SYS_MOVE_MOUNT, ctypes.c_int(from_fd), b"", ctypes.c_int(to_fd), b"",
                          ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)),
           "move_mount")


def mount_setattr_idmap(fd: int, userns_fd: int, recursive: bool) -> None:
    """mount_setattr(2): make the (detached) mount ``fd`` idmapped by ``userns_fd``.
    Raises OSError (EINVAL: the filesystem does not support idmapped mounts)."""
    import ctypes

    attr = (ctypes.c_uint64 * 4)(MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_lib().syscall(_SYS_MOUNT_SETATTR, ctypes.c_int(fd), b"", ctypes.c_uint(flags), attr,
                          ctypes.c_size_t(ctypes.sizeof(attr))), "mount_setattr (idmap)")
