"""Paths resolved inside a root directory through file descriptors, never through strings.

A :class:`Root` holds an ``O_PATH`` descriptor of a directory. Every lookup walks the path
one component at a time with ``openat(…, O_PATH | O_NOFOLLOW)`` from descriptors it holds,
reading symlinks itself and interpreting them *inside* the root: an absolute target starts
again at the root, and ``..`` never climbs above it (as if the root were ``/`` of a chroot,
which is what Docker's chrooted archive code and openat2's ``RESOLVE_IN_ROOT`` do). Because
each step is relative to a descriptor already open, a concurrent rename or symlink swap of
a component cannot redirect the walk to a path outside the root (runc CVE-2021-30465 is the
race this closes). Callers then act on the final component with ``*at`` calls relative to
the returned directory descriptor and ``O_NOFOLLOW`` / ``AT_SYMLINK_NOFOLLOW``.

Layer 1. May import: errors.
"""

from __future__ import annotations

import errno
import os
import stat

from hako.errors import InvalidArgument

MAX_SYMLINKS = 40  # as the kernel's MAXSYMLINKS
_PATH = os.O_PATH | os.O_CLOEXEC
_NOFOLLOW = _PATH | os.O_NOFOLLOW


def components(rel: str) -> list[str]:
    """The non-empty, non-``.`` components of a slash-separated path."""
    return [p for p in rel.split("/") if p not in ("", ".")]


class Root:
    """An open directory that paths are resolved inside (close it, or use ``with``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, _PATH | os.O_DIRECTORY)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Root":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resolution ------------------------------------------------------------------------
    def open_dir(self, rel: str, create: bool = False, mode: int = 0o755,
                 entry: str | None = None) -> int:
        """An ``O_PATH`` descriptor of directory ``rel`` (symlinks followed inside the root).

        Args:
            rel: a path relative to the root ("" is the root).
            create: make missing components as directories with ``mode``.
            entry: the name to put in errors (defaults to ``rel``).

        Raises:
            FileNotFoundError: a component is missing and ``create`` is false.
            InvalidArgument: a component is not a directory, or too many symlinks.
        """
        return self._walk(components(rel), create, mode, entry if entry is not None else rel,
                          follow_final=True, want_dir=True)

    def lookup(self, rel: str, follow: bool = True, entry: str | None = None) -> int:
        """An ``O_PATH`` descriptor of ``rel``; with ``follow=False`` a final symlink is
        opened itself. Raises FileNotFoundError or InvalidArgument."""
        return self._walk(components(rel), False, 0, entry if entry is not None else rel,
                          follow_final=follow, want_dir=False)

    def make(self, rel: str, kind: str = "dir", entry: str | None = None) -> int:
        """An ``O_PATH`` descriptor of ``rel``, made if missing: every missing directory on
        the way is created (0755), and a missing final component as ``kind`` ("dir", or
        "file": an empty 0755 file, as runc makes bind-mount targets). A final symlink is
        followed inside the root; what it names is made if missing."""
        if kind not in ("dir", "file"):
            raise ValueError(kind)
        return self._walk(components(rel), True, 0o755, entry if entry is not None else rel,
                          follow_final=True, want_dir=kind == "dir", final_kind=kind)

    def parent(self, rel: str, create: bool = False, entry: str | None = None) -> tuple[int, str]:
        """``(directory descriptor, final name)`` for acting on ``rel`` with ``*at`` calls.

        The root itself has no parent: ``rel`` must name something below it.
        """
        parts = components(rel)
        if not parts or parts[-1] == "..":
            raise InvalidArgument(f"invalid path {entry or rel!r}: no parent inside the root")
        fd = self._walk(parts[:-1], create, 0o755, entry if entry is not None else rel,
                        follow_final=True, want_dir=True)
        return fd, parts[-1]

    def _walk(self, parts: list[str], create: bool, mode: int, entry: str,
              follow_final: bool, want_dir: bool, final_kind: str = "dir") -> int:
        stack = [os.dup(self.fd)]
        pending = list(parts)
        links = 0
        try:
            while pending:
                part = pending.pop(0)
                if part == "..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                    continue
                last = not pending
                try:
                    fd = os.open(part, _NOFOLLOW, dir_fd=stack[-1])
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        if last and final_kind == "file":
                            os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                             | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                                             dir_fd=stack[-1]))
                        else:
                            os.mkdir(part, mode, dir_fd=stack[-1])
                    except FileExistsError:
                        pass
                    fd = os.open(part, _NOFOLLOW, dir_fd=stack[-1])
                st = os.fstat(fd)
                if stat.S_ISLNK(st.st_mode) and (not last or follow_final):
                    os.close(fd)
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise InvalidArgument(
                            f"invalid path {entry!r}: too many levels of symbolic links")
                    target = os.readlink(part, dir_fd=stack[-1])
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                    pending = components(target) + pending
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(fd)
                    continue
                if not last or want_dir:
                    os.close(fd)
                    raise InvalidArgument(f"invalid path {entry!r}: {part!r} is not a directory")
                stack.append(fd)
            return stack.pop()
        finally:
            for fd in stack:
                os.close(fd)

    # -- helpers on (dirfd, name) ----------------------------------------------------------
    @staticmethod
    def lstat_at(dirfd: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    @staticmethod
    def remove_at(dirfd: int, name: str) -> None:
        """Remove ``name`` (a directory tree, file or link) in ``dirfd``, never following a
        link (``shutil.rmtree`` with ``dir_fd`` walks by descriptors)."""
        import shutil

        st = Root.lstat_at(dirfd, name)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=dirfd)
        else:
            os.unlink(name, dir_fd=dirfd)

    @staticmethod
    def chmod_fd(fd: int, mode: int) -> None:
        """chmod through a descriptor (an ``O_PATH`` one through ``/proc/self/fd``, which
        names the inode itself; the descriptor is never a symlink here)."""
        try:
            os.fchmod(fd, mode)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
            os.chmod(f"/proc/self/fd/{fd}", mode)


def proc_path(fd: int) -> str:
    """The ``/proc/self/fd`` name of a descriptor: mount(2) and chmod(2) given it act on
    the very inode the descriptor holds, whatever happened to the path since."""
    return f"/proc/self/fd/{fd}"


def open_in_root(root: str, rel: str, flags: int = os.O_RDONLY) -> int:
    """Open ``rel`` inside ``root`` for reading (symlinks followed inside the root).

    Raises:
        FileNotFoundError, IsADirectoryError, InvalidArgument.
    """
    with Root(root) as r:
        pfd = r.lookup(rel, follow=True)
    try:
        if flags & (os.O_WRONLY | os.O_RDWR) == 0 and stat.S_ISDIR(os.fstat(pfd).st_mode) \
                and not flags & os.O_DIRECTORY:
            raise IsADirectoryError(errno.EISDIR, "is a directory", rel)
        return os.open(f"/proc/self/fd/{pfd}", flags | os.O_CLOEXEC)
    finally:
        os.close(pfd)
