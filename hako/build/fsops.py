"""Filesystem work of ADD, COPY and WORKDIR inside a mounted root filesystem.

Destinations are resolved inside the root (symlinks interpreted within it), new entries
get the ``--chown`` owner (root by default) and the ``--chmod`` mode; file modes, symlinks
and modification times of the sources are kept. Owner names are looked up in the
destination's ``/etc/passwd`` and ``/etc/group``.

Layer 5 (build). May import: errors, support.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import Any

from hako.errors import InvalidArgument
from hako.support import fsroot, tarsafe, untar
from hako.support.fsroot import Root


@contextlib.contextmanager
def mounted(images: Any, key: str) -> Iterator[str]:
    """Mount the active snapshot ``key`` on a temporary directory for the block's duration."""
    from hako.store.mount import mount_all, unmount

    # under the store's tmp/, which the daemon clears (mounts first) when it starts again
    tmp = os.path.join(images.root, "tmp")
    os.makedirs(tmp, exist_ok=True)
    target = tempfile.mkdtemp(prefix="build-mnt-", dir=tmp)
    mounts = images.rootfs_mounts(key)
    try:
        mount_all(mounts, target)
        try:
            yield target
        finally:
            for _ in mounts:
                try:
                    unmount(target)
                except OSError:
                    unmount(target, 2)  # MNT_DETACH
    finally:
        os.rmdir(target)


def _table(root: str, name: str) -> list[list[str]]:
    try:  # resolved inside the image's root by descriptors; a FIFO there must not block
        fd = fsroot.open_in_root(root, f"etc/{name}", os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, InvalidArgument):
        return []
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]


def resolve_owner(root: str, spec: str) -> tuple[int, int] | None:
    """``--chown user[:group]`` → (uid, gid); None when no --chown was given.

    Raises:
        InvalidArgument: a name that the image does not know.
    """
    if not spec:
        return None
    user, _, group = spec.partition(":")
    uid = gid = None
    if user.isdigit():
        uid = int(user)
        gid = uid
    else:
        for ent in _table(root, "passwd"):
            if len(ent) >= 4 and ent[0] == user:
                uid, gid = int(ent[2]), int(ent[3])
                break
        if uid is None:
            raise InvalidArgument("unable to convert uid/gid chown string to host mapping: can't find "
                                  f"uid for user {user}: no such user: {user}")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = [int(g[2]) for g in _table(root, "group") if len(g) >= 3 and g[0] == group]
            if not found:
                raise InvalidArgument("unable to convert uid/gid chown string to host mapping: can't "
                                      f"find gid for group {group}: no such group: {group}")
            gid = found[0]
    return uid, gid if gid is not None else 0


def parse_chmod(spec: str) -> int | None:
    """``--chmod`` octal text → mode bits (None when not given).

    Raises:
        InvalidArgument: not an octal mode.
    """
    if not spec:
        return None
    try:
        mode = int(spec, 8)
    except ValueError:
        raise InvalidArgument(f"invalid chmod parameter: {spec!r}") from None
    if mode > 0o7777:
        raise InvalidArgument(f"invalid chmod parameter: {spec!r}")
    return mode


def inside(root: str, path: str) -> str:
    """Host path of container path ``path`` (symlinks resolved within ``root``). Only a
    name: every write below resolves it again inside ``root`` through descriptors."""
    return tarsafe.resolve(root, path.lstrip("/"), path, follow_final=True)


def _rel(root: str, host: str) -> str:
    rel = os.path.relpath(host, root)
    if rel == ".":
        return ""
    if rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"path {host!r} is outside the root filesystem")
    return rel


def make_dirs(root: str, path: str, owner: tuple[int, int] | None) -> str:
    """``mkdir -p`` of a container path; new directories 0755 owned by ``owner`` (or root).

    Returns:
        The host path of the directory (symlinks resolved inside ``root``).
    """
    uid, gid = owner or (0, 0)
    with Root(root) as r:
        current = ""
        for part in fsroot.components(path):
            current = f"{current}/{part}" if current else part
            try:
                os.close(r.open_dir(current, entry="/" + current))
                continue
            except InvalidArgument:
                raise InvalidArgument(f"mkdir /{current}: not a directory") from None
            except FileNotFoundError:
                pass
            # made inside the root, following an image's symlink there as Docker's
            # MkdirAll in scope does; the new directory gets the owner
            fd = r.make(current, "dir", entry="/" + current)
            try:
                os.chown(fsroot.proc_path(fd), uid, gid)
                os.chmod(fsroot.proc_path(fd), 0o755)
            finally:
                os.close(fd)
    return inside(root, path)


def _attrs(fd: int, mode: int, owner: tuple[int, int] | None, chmod: int | None) -> None:
    """Owner first (chown clears set-id bits), then the mode, on a descriptor."""
    uid, gid = owner or (0, 0)
    os.fchown(fd, uid, gid)
    os.fchmod(fd, chmod if chmod is not None else mode)


def copy_entry(src: str, root: str, dst: str, owner: tuple[int, int] | None,
               chmod: int | None) -> None:
    """Copy one file, symlink or directory tree to ``dst`` (a host path inside the
    container root ``root``), replacing a non-directory there. Everything is written
    through descriptors resolved inside ``root``; a symlink the image has where the copy
    puts a directory is replaced by the directory (as Docker's untar does), never
    followed out of the root."""
    with Root(root) as r:
        _copy(src, r, _rel(root, dst), owner, chmod)


def _copy(src: str, r: Root, rel: str, owner: tuple[int, int] | None, chmod: int | None) -> None:
    st = os.lstat(src)
    pfd, name = r.parent(rel, create=True)
    try:
        cur = Root.lstat_at(pfd, name)
        if stat.S_ISDIR(st.st_mode):
            created = cur is None or not stat.S_ISDIR(cur.st_mode)
            if created:
                Root.remove_at(pfd, name)
                os.mkdir(name, 0o700, dir_fd=pfd)
        else:
            Root.remove_at(pfd, name)
            _copy_leaf(src, st, pfd, name, owner, chmod)
            return
    finally:
        os.close(pfd)
    for child in sorted(os.listdir(src)):
        _copy(os.path.join(src, child), r, f"{rel}/{child}", owner, chmod)
    if created:
        pfd, name = r.parent(rel)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=pfd)
            try:
                _attrs(fd, stat.S_IMODE(st.st_mode), owner, chmod)
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd)
        finally:
            os.close(pfd)


def _copy_leaf(src: str, st: os.stat_result, pfd: int, name: str,
               owner: tuple[int, int] | None, chmod: int | None) -> None:
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), name, dir_fd=pfd)
        uid, gid = owner or (0, 0)
        os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=pfd, follow_symlinks=False)
        return
    if not stat.S_ISREG(st.st_mode):
        return  # sockets, fifos and devices are not copied
    with open(src, "rb") as f:
        _write_at(pfd, name, f, stat.S_IMODE(st.st_mode), owner, chmod,
                  (st.st_atime_ns, st.st_mtime_ns))


def _write_at(pfd: int, name: str, data: Any, mode: int, owner: tuple[int, int] | None,
              chmod: int | None, times_ns: tuple[int, int] | None) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=pfd)
    with os.fdopen(fd, "wb") as out:
        if isinstance(data, bytes):
            out.write(data)
        else:
            shutil.copyfileobj(data, out, 1 << 20)
        out.flush()
        _attrs(out.fileno(), mode, owner, chmod)
        if times_ns is not None:
            os.utime(out.fileno(), ns=times_ns)


def write_file(root: str, dst: str, data: bytes, mode: int, owner: tuple[int, int] | None,
               mtime: float | None = None) -> None:
    """Create ``dst`` (a host path inside ``root``) with ``data`` (ADD of a URL, COPY of a
    heredoc), replacing a non-directory there, through descriptors."""
    with Root(root) as r:
        pfd, name = r.parent(_rel(root, dst), create=True)
        try:
            cur = Root.lstat_at(pfd, name)
            if cur is not None and stat.S_ISDIR(cur.st_mode):
                raise InvalidArgument(f"cannot overwrite directory {dst!r} with a file")
            Root.remove_at(pfd, name)
            ns = None if mtime is None else (int(mtime * 1e9), int(mtime * 1e9))
            _write_at(pfd, name, data, mode, owner, None, ns)
        finally:
            os.close(pfd)


def extract_archive(archive: str, root: str, dest: str, owner: tuple[int, int] | None) -> None:
    """ADD's auto-extraction of a local tar into ``dest`` (a host directory inside the
    container root ``root``) with the one extractor: ownership kept from the archive unless
    ``--chown``, device nodes and FIFOs skipped, absolute symlinks meaning ``root``."""
    subdir = os.path.relpath(dest, root)
    opts = untar.Options(owner=owner if owner is not None else "keep", specials=untar.SKIP,
                         subdir="" if subdir == "." else subdir)
    with open(archive, "rb") as f:
        untar.extract(f, root, opts)
