"""Client side of ``hako build``: the build context tar, as the docker CLI makes it.

- ``.dockerignore`` matching lives in ``hako.opts.dockerignore`` (shared with the builder).
  An excluded directory is still walked when an exception could match below it. The
  Dockerfile and ``.dockerignore`` are always sent.
- Entries are owned by 0:0 (like ``ChownOpts`` in the CLI), sorted, modes and mtimes kept.
- A Dockerfile from stdin or from outside the context is added as ``.dockerfile.<random>``
  and appended to ``.dockerignore`` so the daemon drops it from the context.
- ``detect_archive`` tells a tar (plain or compressed) from a Dockerfile on stdin.

Pure client code (no engine imports). Layer: cli.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tarfile
import time
from typing import BinaryIO

from hako.errors import InvalidArgument
from hako.opts.dockerignore import Matcher, read_dockerignore  # noqa: F401 - re-exported

DEFAULT_DOCKERFILE = "Dockerfile"
_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def trim_build_files(patterns: list[str], dockerfile: str, from_stdin: bool) -> list[str]:
    """Docker's TrimBuildFilesFromExcludes: never exclude .dockerignore or the Dockerfile."""
    out = list(patterns)
    m = Matcher(out)
    if m.excluded(".dockerignore"):
        out.append("!.dockerignore")
    if not from_stdin and dockerfile and Matcher(out).excluded(dockerfile):
        out.append("!" + dockerfile)
    return out


def _walk(root: str, matcher: Matcher, rel: str = ""):
    for name in sorted(os.listdir(os.path.join(root, rel) if rel else root)):
        child = f"{rel}/{name}" if rel else name
        full = os.path.join(root, child)
        is_dir = os.path.isdir(full) and not os.path.islink(full)
        if matcher.excluded(child):
            if is_dir and matcher.has_exclusions and matcher.may_include_below(child):
                yield from _walk(root, matcher, child)
            continue
        yield child, full
        if is_dir:
            yield from _walk(root, matcher, child)


def _tarinfo(tf: tarfile.TarFile, full: str, arcname: str) -> tarfile.TarInfo | None:
    try:
        info = tf.gettarinfo(full, arcname)
    except OSError as exc:
        raise InvalidArgument(f"error checking context: can't stat '{full}'") from exc
    if info is None or not (info.isreg() or info.isdir() or info.issym() or info.islnk()
                            or info.isfifo()):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_context(root: str, out: BinaryIO, patterns: list[str]) -> None:
    """Tar the directory ``root`` into ``out``, leaving out what ``patterns`` exclude.

    Raises:
        InvalidArgument: an unreadable file (Docker's "error checking context" text).
    """
    matcher = Matcher(patterns)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for rel, full in _walk(root, matcher):
            info = _tarinfo(tf, full, rel)
            if info is None:
                continue
            if info.isreg():
                try:
                    with open(full, "rb") as f:
                        tf.addfile(info, f)
                except PermissionError as exc:
                    raise InvalidArgument(
                        f"error checking context: can't open '{full}': {exc}") from exc
            else:
                tf.addfile(info)


def add_dockerfile(context: bytes, dockerfile: bytes) -> tuple[bytes, str]:
    """Add a Dockerfile under a random name and list it in .dockerignore (Docker's
    AddDockerfileToBuildContext). Returns (new context tar, the Dockerfile's name)."""
    name = ".dockerfile." + os.urandom(10).hex()
    now = int(time.time())
    out = io.BytesIO()
    ignore = None
    with tarfile.open(fileobj=io.BytesIO(context), mode="r:*") as src, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            if m.name.lstrip("./") == ".dockerignore" and m.isreg():
                ignore = (m, src.extractfile(m).read())
                continue
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
        body = (ignore[1] if ignore else b".dockerignore") + f"\n{name}\n".encode()
        info = ignore[0] if ignore else _file_info(".dockerignore", now)
        info.size = len(body)
        dst.addfile(info, io.BytesIO(body))
        info = _file_info(name, now)
        info.size = len(dockerfile)
        dst.addfile(info, io.BytesIO(dockerfile))
    return out.getvalue(), name


def _file_info(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = 0o600, mtime
    return info


def detect_archive(head: bytes) -> bool:
    """Whether stdin's first bytes are an archive (tar, gzip, bzip2, xz, zstd)."""
    if any(head.startswith(m) for m in _MAGICS):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def dockerfile_only_context(dockerfile: bytes) -> bytes:
    """A context holding just ``Dockerfile`` (``hako build - < Dockerfile``)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = _file_info(DEFAULT_DOCKERFILE, int(time.time()))
        info.size = len(dockerfile)
        tf.addfile(info, io.BytesIO(dockerfile))
    return out.getvalue()


def is_git_url(text: str) -> bool:
    """The docker CLI's urlutil.IsGitURL."""
    if text.startswith(("git://", "github.com/", "git@")):
        return True
    return text.startswith(("http://", "https://")) and bool(re.search(r"\.git(?:#.+)?$", text))


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def dockerfile_rel_path(context_dir: str, dockerfile: str) -> str:
    """The Dockerfile's path relative to the context (Docker's getDockerfileRelPath).

    ``dockerfile`` "" means ``<context>/Dockerfile`` (or ``dockerfile``); a given path is
    relative to the current directory. The result may start with ``../`` (outside).

    Raises:
        InvalidArgument: with the docker CLI's "unable to prepare context" texts.
    """
    ctx = os.path.realpath(context_dir)
    if not dockerfile:
        path = os.path.join(ctx, DEFAULT_DOCKERFILE)
        alt = os.path.join(ctx, DEFAULT_DOCKERFILE.lower())
        if not os.path.lexists(path) and os.path.lexists(alt):
            path = alt
    else:
        path = os.path.abspath(dockerfile)
    if not os.path.lexists(path):
        raise InvalidArgument("unable to prepare context: unable to evaluate symlinks in "
                              f"Dockerfile path: lstat {path}: no such file or directory")
    path = os.path.realpath(path)
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"unable to prepare context: the Dockerfile ({path}) "
                              "cannot be a directory")
    return os.path.relpath(path, ctx).replace(os.sep, "/")
