"""Namespace kinds ↔ clone flags and /proc ns names; create vs join; ordering rules.

Layer: runtime (3). May import: errors, linux.

Ordering: the pid namespace is entered by the *parent* before it forks the init (unshare
or setns on CLONE_NEWPID only affect children); with a user namespace a first child enters
that, has its id maps written by the parent, then enters the pid namespace and forks the
init (so the pid namespace, like every other, is owned by the user namespace); the cgroup namespace is unshared last,
after the parent moved the init into its cgroup, so the container's cgroup is its root;
the mount namespace is joined last on exec (joining it changes what paths mean).
"""

from __future__ import annotations

from typing import NamedTuple

from hako.errors import InvalidArgument
from hako.linux import syscalls

# OCI type -> (clone flag, /proc/<pid>/ns/<name>)
KINDS: dict[str, tuple[int, str]] = {
    "pid": (syscalls.CLONE_NEWPID, "pid"),
    "network": (syscalls.CLONE_NEWNET, "net"),
    "mount": (syscalls.CLONE_NEWNS, "mnt"),
    "ipc": (syscalls.CLONE_NEWIPC, "ipc"),
    "uts": (syscalls.CLONE_NEWUTS, "uts"),
    "cgroup": (syscalls.CLONE_NEWCGROUP, "cgroup"),
    "user": (syscalls.CLONE_NEWUSER, "user"),
}

# Order in which the child joins/creates (mount last on join; cgroup last on create).
CHILD_ORDER = ("ipc", "uts", "network", "mount", "cgroup")
# exec joins the user namespace first: it then holds every capability over the rest
EXEC_ORDER = ("user", "cgroup", "ipc", "uts", "network", "mount")


class Namespace(NamedTuple):
    """One linux.namespaces entry: a kind, and a path when joining an existing one."""

    kind: str
    path: str = ""

    @property
    def flag(self) -> int:
        """The CLONE_NEW* flag of this kind."""
        return KINDS[self.kind][0]


def parse(entries: list[dict]) -> dict[str, Namespace]:
    """Parse linux.namespaces.

    Args:
        entries: the spec's list of {"type": ..., "path": ...}.
    Returns:
        kind → Namespace.
    Raises:
        InvalidArgument: unknown or duplicate kind.
    """
    out: dict[str, Namespace] = {}
    for entry in entries or []:
        kind = entry.get("type", "")
        if kind not in KINDS:
            raise InvalidArgument(f"namespace {kind!r} does not exist")
        if kind in out:
            raise InvalidArgument(f"duplicate namespace {kind!r}")
        out[kind] = Namespace(kind, entry.get("path", "") or "")
    return out


NS_GET_NSTYPE = 0xB703  # ioctl on a namespace fd: its CLONE_NEW* type
_NAMES = {flag: kind for kind, (flag, _) in KINDS.items()}


def check_path(ns: Namespace) -> None:
    """Require ``ns.path`` to be a namespace of ``ns.kind`` (ioctl NS_GET_NSTYPE).

    Raises:
        InvalidArgument: missing, not a namespace, or another type, in one line.
    """
    import fcntl
    import os

    try:
        fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidArgument(f"namespace path {ns.path!r} for {ns.kind}: "
                              f"{exc.strerror}") from None
    try:
        try:
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            raise InvalidArgument(f"namespace path {ns.path!r} for {ns.kind} is not a "
                                  "namespace") from None
    finally:
        os.close(fd)
    if kind != ns.flag:
        raise InvalidArgument(f"namespace path {ns.path!r} is a "
                              f"{_NAMES.get(kind, hex(kind))} namespace, not {ns.kind}")


def enter(ns: Namespace) -> None:
    """Create (unshare) or join (setns) one namespace in the calling process.

    Raises:
        OSError: the kernel refused; the message names the namespace.
    """
    import os

    if not ns.path:
        syscalls.unshare(ns.flag)
        return
    fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(fd, ns.flag)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, f"failed to join namespace {ns.path}") from None
    finally:
        os.close(fd)


def enter_in_order(namespaces: dict[str, Namespace], order: tuple[str, ...]) -> None:
    """Enter every namespace of ``namespaces`` whose kind is in ``order``, in that order."""
    for kind in order:
        if kind in namespaces:
            enter(namespaces[kind])


def bring_up_loopback() -> None:
    """Set IFF_UP on ``lo`` in the current network namespace (SIOCSIFFLAGS).

    Raises:
        OSError: the ioctl failed.
    """
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(s.fileno(), siocgifflags, req))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sh22x", b"lo", flags | iff_up))
