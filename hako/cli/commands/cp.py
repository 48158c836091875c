"""``hako cp``: copy files between a container and the local filesystem, as ``docker cp``.

The container side goes through ``/containers/{id}/archive`` (HEAD for the path's stat,
GET and PUT for tars). The local side of a copy out of a container is unpacked by the one
extractor (``hako.support.untar``) after the entries are renamed to the destination's name
(docker's ``RebaseArchiveEntries``), so a hostile container's tar cannot write outside the
destination either.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import threading
from collections.abc import Iterator
from typing import Any

from hako import errors
from hako.cli.main import CliError
from hako.cli.parsing import Parser
from hako.support.units import human_size

_GO_DIR, _GO_SYMLINK = 1 << 31, 1 << 27


def _split(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: absolute or ./ paths are local; else CONTAINER:PATH."""
    if arg.startswith("/") or arg.startswith("."):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep:
        return "", arg
    return container, path


def cp(ctx: Any, argv: list[str]) -> int:
    """hako cp [-a] [-L] [-q] CONTAINER:SRC_PATH DEST_PATH|- / SRC_PATH|- CONTAINER:DEST_PATH"""
    p = Parser("cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-")
    p.flag("-a", "--archive")
    p.flag("-L", "--follow-link")
    p.flag("-q", "--quiet")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=2)
    (sc, sp), (dc, dp) = _split(args[0]), _split(args[1])
    if sc and dc:
        raise CliError("copying between containers is not supported")
    if not sc and not dc:
        raise CliError("must specify at least one container source")
    if not (sp if sc else dp):
        raise CliError("empty container path")  # docker: "Path cannot be empty"
    if sc:
        size = _from_container(ctx, sc, sp, dp, opts)
        where = dp
    else:
        size = _to_container(ctx, sp, dc, dp, opts)
        where = f"{dc}:{dp}"
    if not opts.quiet and dp != "-" and sp != "-":
        ctx.err(f"Successfully copied {human_size(size)} to {where}")
    return 0


# -- container → local ----------------------------------------------------------------------
def _from_container(ctx: Any, container: str, path: str, dest: str, opts: Any) -> int:
    resp = ctx.api.containers.get_archive(container, path)
    stat = _header_stat(resp)
    if opts.follow_link and stat.get("mode", 0) & _GO_SYMLINK and stat.get("linkTarget"):
        resp.close()
        path = stat["linkTarget"]
        resp = ctx.api.containers.get_archive(container, path)
        stat = _header_stat(resp)
    counted = _Counted(resp.iter_chunks())
    if dest == "-":
        for chunk in counted:
            ctx.out_bytes(chunk)
        return counted.size
    src_dir = bool(stat.get("mode", 0) & _GO_DIR)
    src_base = stat.get("name") or posixpath.basename(path.rstrip("/"))
    if os.path.isdir(dest):
        target, rename = dest, None
    elif os.path.lexists(dest):
        if src_dir:
            raise CliError(f'cannot overwrite non-directory "{dest}" with directory "{path}"')
        target, rename = os.path.dirname(os.path.abspath(dest)), os.path.basename(dest)
    else:
        if dest.endswith("/"):
            raise CliError(f'destination "{dest}" does not exist')
        target = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(target):
            raise CliError(f"lstat {target}: no such file or directory")
        rename = os.path.basename(dest.rstrip("/"))
    if src_base == "." and rename is None:
        rename = "."
    _unpack(counted, target, src_base, rename, opts.archive)
    return counted.size


def _header_stat(resp: Any) -> dict[str, Any]:
    import base64
    import json

    header = resp.headers.get("x-docker-container-path-stat") or ""
    return json.loads(base64.b64decode(header)) if header else {}


class _Counted:
    def __init__(self, chunks: Any) -> None:
        self.chunks, self.size = chunks, 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.size += len(chunk)
            yield chunk


class _IterReader:
    """A file-like reader over an iterator of bytes chunks."""

    def __init__(self, chunks: Any) -> None:
        self.it, self.buf = iter(chunks), b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            try:
                self.buf += next(self.it)
            except StopIteration:
                break
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data


def _renamed(name: str, old: str, new: str | None) -> str:
    if new is None or old == new:
        return name
    clean = name[2:] if name.startswith("./") and old != "." else name
    if clean == old:
        return new
    if clean.startswith(old.rstrip("/") + "/"):
        return new + clean[len(old.rstrip("/")):]
    return name


def _unpack(chunks: Any, target: str, old: str, new: str | None, keep_owner: bool) -> None:
    """Rename the entries ``old…`` to ``new…`` and unpack them into ``target``."""
    from hako.support import untar

    rfd, wfd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(wfd, "wb") as out, \
                    tarfile.open(fileobj=_IterReader(chunks), mode="r|") as src, \
                    tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as dst:
                for m in src:
                    m.name = _renamed(m.name, old, new)
                    if m.islnk():
                        m.linkname = _renamed(m.linkname, old, new)
                    dst.addfile(m, src.extractfile(m) if m.isreg() else None)
        except BaseException as exc:  # noqa: BLE001 - reported by the consumer
            failure.append(exc)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        with os.fdopen(rfd, "rb") as pipe:
            untar.extract(pipe, target, untar.Options(
                owner="keep" if keep_owner else None, specials=untar.SKIP), compressed=False)
    finally:
        t.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise CliError(f"copying from the container: {failure[0]}")


# -- local → container ----------------------------------------------------------------------
def _to_container(ctx: Any, path: str, container: str, dest: str, opts: Any) -> int:
    if path == "-":
        counted = _Counted(_stdin_chunks(ctx))
        ctx.api.containers.put_archive(container, dest, iter(counted),
                                       copy_uid_gid=opts.archive)
        return counted.size
    if not os.path.lexists(path):
        raise CliError(f"lstat {os.path.abspath(path)}: no such file or directory")
    src = os.path.realpath(path) if opts.follow_link else path
    src_dir = os.path.isdir(src) and not os.path.islink(src)
    contents = path.endswith("/.") or path == "."
    try:
        dstat = ctx.api.containers.stat_path(container, dest)
        if dstat.get("mode", 0) & _GO_SYMLINK and dstat.get("linkTarget"):
            dest = dstat["linkTarget"]
            dstat = ctx.api.containers.stat_path(container, dest)
    except errors.NotFound:
        dstat = None
    if dstat is not None and dstat.get("mode", 0) & _GO_DIR:
        put_dir, arcname = dest, "." if contents else os.path.basename(os.path.normpath(src))
    elif dstat is not None:
        if src_dir:
            raise CliError(f'cannot copy directory "{path}" to file "{container}:{dest}"')
        put_dir, arcname = posixpath.dirname(dest) or "/", posixpath.basename(dest)
    else:
        if dest.endswith("/"):
            raise CliError(f'destination "{container}:{dest}" must be a directory')
        put_dir, arcname = posixpath.dirname(dest) or "/", posixpath.basename(dest)
    counted = _Counted(_tar_chunks(src, arcname))
    ctx.api.containers.put_archive(container, put_dir, iter(counted), copy_uid_gid=opts.archive)
    return counted.size


def _stdin_chunks(ctx: Any) -> Iterator[bytes]:
    stream = getattr(ctx.stdin, "buffer", ctx.stdin)
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            return
        yield chunk


def _tar_chunks(src: str, arcname: str) -> Iterator[bytes]:
    """A tar of ``src`` named ``arcname``, produced in a thread and read through a pipe."""
    rfd, wfd = os.pipe()

    def produce() -> None:
        try:
            with os.fdopen(wfd, "wb") as out, \
                    tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                tf.add(src, arcname=arcname, recursive=True)
        except BrokenPipeError:
            pass

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    with os.fdopen(rfd, "rb") as pipe:
        while True:
            chunk = pipe.read(1 << 16)
            if not chunk:
                break
            yield chunk
    t.join()
