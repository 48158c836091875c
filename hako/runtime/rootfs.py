"""Root filesystem setup: propagation, spec mounts, cgroup mounts, pivot_root, masked and
read-only paths.

Layer: runtime (3). May import: errors, linux.

Every function here runs in the container's init, inside its new mount namespace, and
mutates only that namespace (without one, the mounts go to the runtime's: ``hostns.py``). Destinations are resolved inside the rootfs with symlinks
evaluated relative to it, through file descriptors (``hako.support.fsroot``), so a hostile
image cannot redirect a mount onto the host, not even by racing a symlink swap.
"""

from __future__ import annotations

import errno
import os

from hako.errors import InvalidArgument
from hako.linux import mount as mnt
from hako.linux import syscalls

_ST_TO_MS = ((2, mnt.MS_NOSUID), (4, mnt.MS_NODEV), (8, mnt.MS_NOEXEC))


def set_propagation(name: str, path: str = "/") -> None:
    """Set the propagation of ``path`` ("/" of the new mount ns by default; rslave when
    no word is given, like runc).

    Raises:
        InvalidArgument: unknown propagation word.
    """
    flag = mnt.PROPAGATION_WORDS.get(name or "rslave")
    if flag is None:
        raise InvalidArgument(f"rootfsPropagation {name!r} is not valid")
    syscalls.mount(None, path, None, flag)


def bind_rootfs(rootfs: str) -> None:
    """Bind the rootfs onto itself so it is a mount point pivot_root accepts, as runc does:
    the mount holding it is made private when it is shared (pivot_root refuses a new root
    whose parent mount is shared), and the bind keeps the propagation ``set_propagation``
    gave "/" (so ``rootfsPropagation: shared`` reaches the container's mounts)."""
    parent_mount_private(rootfs)
    syscalls.mount(rootfs, rootfs, None, mnt.MS_BIND | mnt.MS_REC)


def parent_mount_private(path: str) -> None:
    """Make the mount that holds ``path`` private if it is shared (runc's
    rootfsParentMountPrivate)."""
    from hako.linux import mountinfo

    best = None
    for m in mountinfo.read():
        mp = m.mountpoint.rstrip("/") or "/"
        if path == mp or path.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) >= len(best.mountpoint.rstrip("/") or "/"):
                best = m
    if best is not None and any(o.startswith("shared:") for o in best.optional):
        syscalls.mount(None, best.mountpoint, None, mnt.MS_PRIVATE)


def mount_one(rootfs: str, bundle: str, entry: dict, cgroupns: bool, tree_fd: int = -1) -> None:
    """Perform one spec mount under ``rootfs``.

    The destination is resolved and made inside the rootfs through descriptors
    (``hako.support.fsroot``) and mounted on through ``/proc/self/fd/N``, so swapping a
    path component for a symlink between the check and the mount (runc CVE-2021-30465)
    cannot redirect the mount. Each later step (bind remount, propagation) resolves the
    destination again, so it acts on the new mount, never on what lies under it.

    Args:
        rootfs: absolute host path of the rootfs.
        bundle: bundle dir, for relative bind sources.
        entry: the spec mount dict (destination, type, source, options).
        cgroupns: whether the init has its own cgroup namespace.
        tree_fd: a detached (idmapped) copy of the bind source to attach instead of binding
            the source (``idmap.prepare``).
    Raises:
        OSError: the mount failed (the message names it).
        InvalidArgument: relative destination.
    """
    from hako.support.fsroot import Root, proc_path

    dest = entry.get("destination", "")
    if not dest.startswith("/"):
        raise InvalidArgument(f"mount destination {dest!r} not absolute")
    options = tuple(entry.get("options") or ())
    m = mnt.Mount(entry.get("type") or "", entry.get("source") or "", dest, options)
    opts = mnt.parse_options(options)
    with Root(rootfs) as root:
        if m.is_bind():
            source = m.source if m.source.startswith("/") else os.path.join(bundle, m.source)
            if not os.path.exists(source):
                raise OSError(errno.ENOENT, f"bind mount source {source} does not exist")
            fd = root.make(dest, "dir" if os.path.isdir(source) else "file")
            try:
                check_proc_mount(rootfs, fd, dest, m)
                if tree_fd >= 0:
                    syscalls.move_mount_fd(tree_fd, fd)
                else:
                    syscalls.mount(source, proc_path(fd), None, mnt.MS_BIND | (opts.flags & mnt.MS_REC))
            finally:
                os.close(fd)
            extra = opts.flags & ~(mnt.MS_BIND | mnt.MS_REC | mnt.MS_REMOUNT)
            if extra:
                _on_mount(root, dest, lambda p: syscalls.mount(
                    None, p, None, mnt.MS_BIND | mnt.MS_REMOUNT | extra))
        else:
            fd = root.make(dest, "dir")
            try:
                check_proc_mount(rootfs, fd, dest, m)
                if m.type == "cgroup":
                    syscalls.mount("tmpfs", proc_path(fd), "tmpfs",
                                   opts.flags & ~mnt.MS_RDONLY, "mode=755")
                else:
                    syscalls.mount(m.source, proc_path(fd), m.type, opts.flags, opts.data or None)
            finally:
                os.close(fd)
            if m.type == "cgroup":
                _on_mount(root, dest, lambda p: fill_cgroup_tmpfs(p, options, cgroupns))
                return
        for prop in opts.propagation:
            _on_mount(root, dest, lambda p: syscalls.mount(None, p, None, prop))


_PROC_OK = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
            "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
            "/proc/sys/kernel/ns_last_pid")


def check_proc_mount(rootfs: str, fd: int, dest: str, m: mnt.Mount) -> None:
    """runc's checkProcMount: nothing but proc on /proc, nothing inside /proc except the
    files lxcfs emulates. The destination is judged where it resolved (the descriptor's
    path), so an image symlink to /proc counts as /proc.

    Raises:
        InvalidArgument: runc's texts.
    """
    real = os.readlink(f"/proc/self/fd/{fd}")
    base = os.path.realpath(rootfs)
    rel = "/" + os.path.relpath(real, base) if real.startswith(base) else real
    if rel == "/proc":
        if m.type == "proc" or not m.source:
            return
        raise InvalidArgument(f"{m.source!r} cannot be mounted because it is not of type proc"
                              .replace("'", '"'))
    if rel.startswith("/proc/") and rel not in _PROC_OK:
        raise InvalidArgument(f'"{dest}" cannot be mounted because it is inside /proc')


def _on_mount(root, dest: str, fn) -> None:
    """Call ``fn`` with a ``/proc/self/fd`` path of what ``dest`` is now (the top mount)."""
    from hako.support.fsroot import proc_path

    fd = root.lookup(dest.lstrip("/"))
    try:
        fn(proc_path(fd))
    finally:
        os.close(fd)


def _cgroup_hierarchies() -> list:
    from hako.linux import mountinfo

    return [m for m in mountinfo.read() if m.fstype in ("cgroup", "cgroup2")
            and m.mountpoint.startswith("/sys/fs/cgroup/")]


def _own_cgroups() -> dict[str, str]:
    """controller set (e.g. "cpu,cpuacct", "name=systemd", "" for v2) → our cgroup path."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            out[controllers] = path
    return out


def fill_cgroup_tmpfs(target: str, options: tuple[str, ...], cgroupns: bool) -> None:
    """Fill the fresh tmpfs at ``target`` with one mount per host cgroup hierarchy.

    With a cgroup namespace each hierarchy is mounted fresh (the kernel roots it at the
    container's cgroup); without one, the container's own cgroup dir is bind-mounted.
    Everything made here is inside the tmpfs the runtime has just mounted.
    """
    opts = mnt.parse_options(options)
    own = _own_cgroups()
    for h in _cgroup_hierarchies():
        name = os.path.basename(h.mountpoint)
        sub = os.path.join(target, name)
        os.makedirs(sub, exist_ok=True)
        supers = [o for o in h.super_options.split(",") if o not in ("rw", "ro")]
        controllers = ",".join(o for o in supers if o in _KNOWN or o.startswith("name="))
        if h.fstype == "cgroup2":
            controllers = ""
        flags = opts.flags & ~(mnt.MS_BIND | mnt.MS_REC)
        if cgroupns:
            data = None if h.fstype == "cgroup2" else ",".join(supers)
            syscalls.mount("cgroup", sub, h.fstype, flags, data)
            continue
        path = own.get(controllers, "/")
        rel = path[len(h.root):] if path.startswith(h.root) and h.root != "/" else path
        src = h.mountpoint + (rel if rel != "/" else "")
        mnt.Mount("bind", src, sub, tuple(o for o in options if o != "rbind")).mount()
    for name in os.listdir(target):
        if "," in name:
            for alias in name.split(","):
                if not os.path.lexists(os.path.join(target, alias)):
                    os.symlink(name, os.path.join(target, alias))
    if opts.flags & mnt.MS_RDONLY:
        syscalls.mount(None, target, None, mnt.MS_REMOUNT | opts.flags, "mode=755")


_KNOWN = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio",
          "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"}


def pivot(rootfs: str) -> None:
    """pivot_root into ``rootfs`` and detach the old root (runc's ". ." trick)."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY)
    try:
        os.fchdir(new)
        syscalls.pivot_root(".", ".")
        os.fchdir(old)
        syscalls.mount(None, ".", None, mnt.MS_SLAVE | mnt.MS_REC)
        syscalls.umount2(".", syscalls.MNT_DETACH)
    finally:
        os.close(old)
        os.close(new)
    os.chdir("/")


def chroot(rootfs: str) -> None:
    """Without a mount namespace: chroot into ``rootfs`` (the host's mounts stay as they are)."""
    os.chdir(rootfs)
    os.chroot(".")
    os.chdir("/")


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs mount onto "/" and chroot into it."""
    os.chdir(rootfs)
    syscalls.mount(rootfs, "/", None, mnt.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _current_flags(path: str) -> int:
    flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS if flags & st)


def readonly_path(path: str) -> None:
    """Make ``path`` read-only with a recursive bind remount; missing paths are skipped."""
    try:
        syscalls.mount(path, path, None, mnt.MS_BIND | mnt.MS_REC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        raise
    syscalls.mount(None, path, None, mnt.MS_BIND | mnt.MS_REMOUNT | mnt.MS_RDONLY
                   | mnt.MS_REC | _current_flags(path))


def mask_path(path: str) -> None:
    """Hide ``path``: /dev/null over files, a read-only empty tmpfs over directories."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path):
        syscalls.mount("tmpfs", path, "tmpfs", mnt.MS_RDONLY, None)
    else:
        syscalls.mount("/dev/null", path, None, mnt.MS_BIND)


def readonly_root() -> None:
    """Remount "/" read-only (keeping nosuid/nodev/noexec)."""
    syscalls.mount(None, "/", None, mnt.MS_BIND | mnt.MS_REMOUNT | mnt.MS_RDONLY
                   | _current_flags("/"))
