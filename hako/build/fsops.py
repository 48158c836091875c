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
from hako.support import tarsafe, untar


@contextlib.contextmanager
def mounted(images: Any, key: str) -> Iterator[str]:
    """Mount the active snapshot ``key`` on a temporary directory for the block's duration."""
    from hako.store.mount import mount_all, unmount

    target = tempfile.mkdtemp(prefix="build-mnt-")
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
    try:
        path = tarsafe.resolve(root, f"etc/{name}", f"/etc/{name}", follow_final=True)
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except (OSError, InvalidArgument):
        return []


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
    """Host path of container path ``path`` (symlinks resolved within ``root``)."""
    return tarsafe.resolve(root, path.lstrip("/"), path, follow_final=True)


def make_dirs(root: str, path: str, owner: tuple[int, int] | None) -> str:
    """``mkdir -p`` of a container path; new directories 0755 owned by ``owner`` (or root)."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    host = inside(root, "/")
    for part in parts:
        current = current.rstrip("/") + "/" + part
        host = inside(root, current)
        if not os.path.isdir(host):
            if os.path.lexists(host):
                raise InvalidArgument(f"mkdir {current}: not a directory")
            os.mkdir(host, 0o755)
            os.chmod(host, 0o755)
            uid, gid = owner or (0, 0)
            os.lchown(host, uid, gid)
    return host


def _apply(path: str, owner: tuple[int, int] | None, chmod: int | None, is_link: bool) -> None:
    uid, gid = owner or (0, 0)
    os.lchown(path, uid, gid)
    if chmod is not None and not is_link:
        os.chmod(path, chmod)


def copy_entry(src: str, dst: str, owner: tuple[int, int] | None, chmod: int | None) -> None:
    """Copy one file, symlink or directory tree to host path ``dst`` (replacing a non-dir)."""
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(dst) and not os.path.isdir(dst):
            os.unlink(dst)
        created = not os.path.isdir(dst)
        if created:
            os.mkdir(dst, stat.S_IMODE(st.st_mode))
        for name in sorted(os.listdir(src)):
            copy_entry(os.path.join(src, name), os.path.join(dst, name), owner, chmod)
        if created:
            os.chmod(dst, stat.S_IMODE(st.st_mode))
            _apply(dst, owner, chmod, False)
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    if os.path.isdir(dst) and not os.path.islink(dst):
        shutil.rmtree(dst)
    elif os.path.lexists(dst):
        os.unlink(dst)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        _apply(dst, owner, None, True)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    if not stat.S_ISREG(st.st_mode):
        return  # sockets, fifos and devices are not copied
    shutil.copyfile(src, dst, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    _apply(dst, owner, chmod, False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def write_file(dst: str, data: bytes, mode: int, owner: tuple[int, int] | None,
               mtime: float | None = None) -> None:
    """Create ``dst`` with ``data`` (ADD of a URL, COPY of a heredoc)."""
    if os.path.lexists(dst) and not os.path.isdir(dst):
        os.unlink(dst)
    with open(dst, "wb") as f:
        f.write(data)
    os.chmod(dst, mode)
    _apply(dst, owner, None, False)
    if mtime is not None:
        os.utime(dst, (mtime, mtime))


def extract_archive(archive: str, root: str, dest: str, owner: tuple[int, int] | None) -> None:
    """ADD's auto-extraction of a local tar into ``dest`` (a host directory inside the
    container root ``root``) with the one extractor: ownership kept from the archive unless
    ``--chown``, device nodes and FIFOs skipped, absolute symlinks meaning ``root``."""
    subdir = os.path.relpath(dest, root)
    opts = untar.Options(owner=owner if owner is not None else "keep", specials=untar.SKIP,
                         subdir="" if subdir == "." else subdir)
    with open(archive, "rb") as f:
        untar.extract(f, root, opts)
