"""/dev population: the default device nodes, linux.devices, and the standard symlinks.

Layer: runtime (3). May import: errors, linux.

Each node is made with mknod(2); where that is refused (EPERM: no CAP_MKNOD, a nodev
mount) the host's node is bind-mounted onto an empty file instead, as runc does.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from typing import NamedTuple

from hako.errors import InvalidArgument
from hako.linux import mount as mnt
from hako.linux import syscalls


class Device(NamedTuple):
    """One device node to create inside the container."""

    path: str
    kind: str  # "c", "b", "u" (unbuffered char), "p" (fifo)
    major: int
    minor: int
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


DEFAULT_DEVICES = (
    Device("/dev/null", "c", 1, 3),
    Device("/dev/zero", "c", 1, 5),
    Device("/dev/full", "c", 1, 7),
    Device("/dev/random", "c", 1, 8),
    Device("/dev/urandom", "c", 1, 9),
    Device("/dev/tty", "c", 5, 0),
)

SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


def parse(entries: list[dict]) -> list[Device]:
    """Parse linux.devices into Device values.

    Raises:
        InvalidArgument: missing path or unknown type.
    """
    out = []
    for e in entries or []:
        path, kind = e.get("path", ""), e.get("type", "")
        # any absolute path (as runc); it is resolved inside the root when the node is made
        # (".." stops at the root, as runc's SecureJoin)
        if not path.startswith("/") or kind not in ("c", "b", "u", "p") or not path.strip("/"):
            raise InvalidArgument(f"invalid device {path!r} of type {kind!r}")
        mode = e.get("fileMode")
        out.append(Device(path, kind, int(e.get("major", 0)), int(e.get("minor", 0)),
                          0o666 if mode is None else int(mode) & 0o7777,
                          int(e.get("uid", 0)), int(e.get("gid", 0))))
    return out


def _node_type(kind: str) -> int:
    return {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[kind]


def create(rootfs: str, dev: Device, allow_bind: bool = True) -> None:
    """Create ``dev`` under ``rootfs`` (mknod, or bind the host node if mknod is refused).
    Its path is resolved inside ``rootfs`` through descriptors (``hako.support.fsroot``):
    an image's symlink or a ``..`` in the path never leads out of the container's root.

    Raises:
        OSError: neither mknod nor the bind fallback worked.
        InvalidArgument: the path names the root itself or loops.
    """
    from hako.support.fsroot import Root

    with Root(rootfs) as root:
        _create_in(root, dev, allow_bind)


def _create_in(root, dev: Device, allow_bind: bool) -> None:
    from hako.support.fsroot import Root, proc_path

    dirfd, name = root.parent(dev.path, create=True)
    try:
        try:
            os.mknod(name, dev.mode | _node_type(dev.kind), os.makedev(dev.major, dev.minor),
                     dir_fd=dirfd)
        except FileExistsError:
            return  # something is there already (a bind mount, -v /dev:/dev): left alone, as runc
        except OSError as exc:
            if exc.errno != errno.EPERM or not allow_bind:
                raise
            try:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                                 | os.O_CLOEXEC, 0o644, dir_fd=dirfd))
            except FileExistsError:
                return
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            try:
                syscalls.mount(dev.path, proc_path(fd), None, mnt.MS_BIND)
            finally:
                os.close(fd)
            return
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            Root.chmod_fd(fd, dev.mode)
        finally:
            os.close(fd)
        os.chown(name, dev.uid, dev.gid, dir_fd=dirfd, follow_symlinks=False)
    finally:
        os.close(dirfd)


def create_all(rootfs: str, extra: list[Device]) -> None:
    """Create the default devices plus ``extra`` (which win on equal paths)."""
    from hako.support.fsroot import Root

    wanted = {d.path: d for d in DEFAULT_DEVICES}
    wanted.update({d.path: d for d in extra})
    with Root(rootfs) as root:
        for dev in wanted.values():
            _create_in(root, dev, True)


def create_symlinks(rootfs: str) -> None:
    """/dev/fd, stdin, stdout, stderr, ptmx → pts/ptmx, and core → /proc/kcore; each made
    in its directory resolved inside ``rootfs`` through descriptors (an image's symlinked
    /dev must not lead them, or the ptmx replacement, onto the host)."""
    from hako.support.fsroot import Root

    links = list(SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    with Root(rootfs) as root:
        for src, dst in links:
            dirfd, name = root.parent(dst, create=True)
            try:
                os.symlink(src, name, dir_fd=dirfd)
            except FileExistsError:
                pass
            finally:
                os.close(dirfd)
        dirfd, name = root.parent("/dev/ptmx", create=True)
        try:
            pts = Root.lstat_at(dirfd, "pts")
            if pts is not None and stat.S_ISDIR(pts.st_mode):
                old = Root.lstat_at(dirfd, name)
                if old is not None and not stat.S_ISDIR(old.st_mode):
                    os.unlink(name, dir_fd=dirfd)
                os.symlink("pts/ptmx", name, dir_fd=dirfd)
        finally:
            os.close(dirfd)


def setup_console(console: socket.socket, size: dict | None, bind_console: bool) -> None:
    """Make a pty in the container's devpts, send its master over ``console``, and make the
    slave the caller's controlling terminal and stdio (the caller is a session leader).

    Args:
        console: connected console socket (runc protocol: one SCM_RIGHTS message, the
            pty name as payload).
        size: process.consoleSize ({"height", "width"}) or None.
        bind_console: also bind the slave onto /dev/console (container init only).
    Raises:
        OSError: no devpts with ptmx, or an ioctl failed.
    """
    import fcntl
    import struct

    from hako.runtime.sync import send_fd

    tiocsptlck, tiocgptn, tiocswinsz, tiocsctty = 0x40045431, 0x80045430, 0x5414, 0x540E
    master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, tiocsptlck, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, tiocgptn, b"\0" * 4))[0]
        slave_path = f"/dev/pts/{number}"
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
        if size:
            fcntl.ioctl(slave, tiocswinsz, struct.pack("HHHH", int(size.get("height", 0)),
                                                       int(size.get("width", 0)), 0, 0))
        if bind_console:
            if not os.path.exists("/dev/console"):
                with open("/dev/console", "w"):
                    pass
            syscalls.mount(slave_path, "/dev/console", None, mnt.MS_BIND)
        send_fd(console, master, slave_path)
    finally:
        os.close(master)
    fcntl.ioctl(slave, tiocsctty, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


# runc's AllowedDevices: always permitted in the device cgroup, after the spec's rules.
DEFAULT_RULES = (
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
)


def with_default_rules(resources: dict | None) -> dict:
    """A copy of linux.resources whose device rules end with runc's always-allowed devices
    (the standard nodes, ptys, mknod), so a spec's "deny all" still leaves /dev/null usable.
    """
    out = dict(resources or {})
    out["devices"] = list(out.get("devices") or []) + [dict(r) for r in DEFAULT_RULES]
    return out
