"""The Mount value and mount option parsing.

Layer: linux (2). May import: errors. ``Mount`` is the one currency between the store (which
returns the mounts a snapshot needs) and the runtime (which performs them). Option strings
follow mount(8) and the OCI runtime spec: flag words become MS_* bits, propagation words are
applied by a separate mount(2) call, everything else is filesystem data.
"""

from __future__ import annotations

from typing import NamedTuple

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

# word -> (clear?, flag). "clear" words remove the flag (e.g. "rw", "suid").
FLAG_WORDS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS), "atime": (True, MS_NOATIME), "bind": (False, MS_BIND),
    "defaults": (False, 0), "dev": (True, MS_NODEV), "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC), "exec": (True, MS_NOEXEC), "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME), "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME), "noexec": (False, MS_NOEXEC),
    "nomand": (True, MS_MANDLOCK), "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME), "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME), "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY), "rw": (True, MS_RDONLY), "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID), "sync": (False, MS_SYNCHRONOUS),
    "lazytime": (False, MS_LAZYTIME), "nolazytime": (True, MS_LAZYTIME),
}

PROPAGATION_WORDS: dict[str, int] = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}


class ParsedOptions(NamedTuple):
    """Mount options split the way mount(2) wants them."""

    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""


def parse_options(options: list[str] | tuple[str, ...]) -> ParsedOptions:
    """Split mount option words into MS_* flags, propagation flags and fs data.

    Args:
        options: words like ``["nosuid", "ro", "mode=755", "rprivate"]``.
    Returns:
        The ParsedOptions; unknown words (``mode=755``, ``size=64k``) go to ``data``.
    """
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for word in options:
        if word in FLAG_WORDS:
            clear, bit = FLAG_WORDS[word]
            flags = flags & ~bit if clear else flags | bit
        elif word in PROPAGATION_WORDS:
            propagation.append(PROPAGATION_WORDS[word])
        elif word:
            data.append(word)
    return ParsedOptions(flags, tuple(propagation), ",".join(data))


class Mount(NamedTuple):
    """One mount: what the store returns and what the runtime performs.

    ``type`` is the filesystem type ("overlay", "bind", "tmpfs", ...), ``source`` the
    device or directory, ``target`` the mount point (may be empty when the caller picks it),
    ``options`` mount(8)-style words.
    """

    type: str
    source: str
    target: str = ""
    options: tuple[str, ...] = ()

    def is_bind(self) -> bool:
        """Whether this mount is a bind mount (type "bind" or a bind/rbind option)."""
        return self.type == "bind" or "bind" in self.options or "rbind" in self.options

    def mount(self, target: str | None = None) -> None:
        """Perform the mount on ``target`` (default ``self.target``).

        Bind mounts with extra flags get the bind remount mount(2) needs for them.

        Raises:
            OSError: the kernel refused.
        """
        from hako.linux import syscalls

        dest = target or self.target
        opts = parse_options(self.options)
        if self.is_bind():
            syscalls.mount(self.source, dest, None, MS_BIND | (opts.flags & MS_REC))
            extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
            if extra:
                syscalls.mount(None, dest, None, MS_BIND | MS_REMOUNT | extra)
        else:
            syscalls.mount(self.source, dest, self.type, opts.flags, opts.data or None)
        for prop in opts.propagation:
            syscalls.mount(None, dest, None, prop)


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount each of ``mounts`` on ``target`` in order; undo them all if one fails.

    Raises:
        OSError: from the failing mount, after the earlier ones were unmounted.
    """
    done = 0
    try:
        for m in mounts:
            m.mount(target)
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target)
        raise


def unmount(target: str, flags: int = 0) -> None:
    """Unmount ``target`` once. Raises OSError."""
    from hako.linux import syscalls

    syscalls.umount2(target, flags)


def unmount_all(target: str, flags: int = 0, detach_busy: bool = False) -> None:
    """Unmount every mount stacked on ``target`` (until EINVAL: nothing mounted there).

    ``detach_busy``: a mount that refuses (busy) is detached lazily (``MNT_DETACH``)
    instead of failing; it goes once its last user lets go.
    """
    import errno

    from hako.linux.syscalls import MNT_DETACH

    gone = (errno.EINVAL, errno.ENOENT)
    while True:
        try:
            unmount(target, flags)
        except OSError as exc:
            if exc.errno in gone:
                return
            if not detach_busy:
                raise
            try:
                unmount(target, flags | MNT_DETACH)
            except OSError as again:
                if again.errno in gone:
                    return
                raise
