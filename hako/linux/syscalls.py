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
