"""The ``docker cp`` helper: stat, tar or untar a path inside a container's filesystem.

``hako.daemon.archive`` runs it as ``python -S`` (``helper_main``), under
``unshare -m --propagation private`` when the container has mount points: it bind-mounts
them onto the rootfs in its private mount namespace (they vanish with it; the host's and the
container's mount tables never change), then::

    stat PATH        → one JSON line: Docker's PathStat (name, size, mode, mtime, linkTarget)
    get PATH         → the PathStat line, then the tar of PATH on stdout
    put PATH         ← a tar on stdin, extracted into the directory PATH

Paths are hostile: the directory part of PATH is resolved inside the rootfs through
descriptors (``hako.support.fsroot``, symlinks interpreted inside the root), the final
component is never followed (a link is archived as a link, as Docker), every file is
opened with ``O_NOFOLLOW`` relative to its directory's descriptor, and ``put`` goes through
the one extractor (``hako.support.untar``), so no entry and no symlink inside the container
can make the helper read or write outside it. The tar is written by ``hako.support.tarwrite``
(file data by ``sendfile`` into the output pipe).

Errors travel back as one JSON line ``{"error": kind, "message": text}`` on stderr with
exit status 1 (``archive.raise_helper_error`` turns them into error kinds). Imports stay
few at the top: the helper starts without the site module.

Layer: daemon (6).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import time
from typing import Any

from hako.errors import InvalidArgument, NotFound, PermissionDenied
from hako.support import tarwrite

# Go's os.FileMode type bits (the PathStat "mode" is a Go FileMode)
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHAR, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20
_CHUNK = 1 << 20


class PathNotFound(NotFound):
    """The container has nothing at the path."""


def go_mode(mode: int) -> int:
    out = mode & 0o777
    if stat.S_ISDIR(mode):
        out |= _GO_DIR
    elif stat.S_ISLNK(mode):
        out |= _GO_SYMLINK
    elif stat.S_ISBLK(mode):
        out |= _GO_DEVICE
    elif stat.S_ISCHR(mode):
        out |= _GO_DEVICE | _GO_CHAR
    elif stat.S_ISFIFO(mode):
        out |= _GO_PIPE
    elif stat.S_ISSOCK(mode):
        out |= _GO_SOCKET
    if mode & stat.S_ISUID:
        out |= _GO_SETUID
    if mode & stat.S_ISGID:
        out |= _GO_SETGID
    if mode & stat.S_ISVTX:
        out |= _GO_STICKY
    return out


def _rfc3339(ts: float) -> str:
    secs = int(ts)
    frac = int(round((ts - secs) * 1e9))
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{frac:09d}Z".replace(".000000000Z", "Z")


def _abs_path(path: str) -> str:
    """Docker's PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)."""
    import posixpath

    clean = posixpath.normpath("/" + path)
    if path.endswith("/.") and clean != "/":
        return clean + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


class Resolved:
    """A path inside the root: the directory's descriptor and the final name ("" for the
    directory itself, when the path ends with ``/``, ``/.`` or is ``/``)."""

    def __init__(self, root: Any, path: str) -> None:
        import posixpath

        self.abs = _abs_path(path)
        trimmed = self.abs
        self.contents = self.abs.endswith("/.")
        if trimmed.endswith("/.") or (trimmed.endswith("/") and trimmed != "/"):
            trimmed = trimmed.rstrip(".").rstrip("/") or "/"
            dir_part, self.base = trimmed, ""
        elif trimmed == "/":
            dir_part, self.base = "/", ""
        else:
            dir_part, self.base = posixpath.split(trimmed)
        try:
            self.dirfd = root.open_dir(dir_part.lstrip("/"), entry=path)
        except (FileNotFoundError, InvalidArgument):
            raise PathNotFound(f"Could not find the file {path} in container") from None
        self.root = root

    def lstat(self) -> os.stat_result:
        if not self.base:
            return os.fstat(self.dirfd)
        try:
            return os.stat(self.base, dir_fd=self.dirfd, follow_symlinks=False)
        except FileNotFoundError:
            raise PathNotFound("not found") from None

    def name(self) -> str:
        """Go's filepath.Base of the absolute path ("." for ``/dir/.``, "/" for "/")."""
        import posixpath

        if self.abs.endswith("/."):
            return "."
        return posixpath.basename(self.abs.rstrip("/")) or "/"

    def link_target(self, st: os.stat_result) -> str:
        """Where a symlink leads, as a path inside the container (Docker's linkTarget)."""
        if not stat.S_ISLNK(st.st_mode):
            return ""
        rel = os.path.join(os.path.dirname(self.abs.rstrip("/")), self.base)
        try:
            fd = self.root.lookup(rel.lstrip("/"), follow=True)
        except (FileNotFoundError, InvalidArgument):
            return os.readlink(self.base, dir_fd=self.dirfd)
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        base = os.path.realpath(self.root.path)
        return "/" + os.path.relpath(real, base) if real != base else "/"


def path_stat(res: Resolved, path: str) -> dict[str, Any]:
    try:
        st = res.lstat()
    except PathNotFound:
        raise PathNotFound(f"Could not find the file {path} in container") from None
    return {"name": res.name(), "size": st.st_size, "mode": go_mode(st.st_mode),
            "mtime": _rfc3339(st.st_mtime), "linkTarget": res.link_target(st)}


def _add(w: tarwrite.Writer, dirfd: int, name: str, arcname: str) -> None:
    """Archive ``name`` (in directory ``dirfd``, never followed) and what it holds."""
    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    link = os.readlink(name, dir_fd=dirfd) if stat.S_ISLNK(st.st_mode) else ""
    info = tarwrite.entry(arcname, st, link)
    if info is None:
        return  # sockets are skipped, as Docker's archiver does
    first = w.first_link(st, arcname)
    if first:
        w.link(info, first)
    elif info.isdir():
        w.header(info)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dirfd)
        try:
            for child in sorted(os.listdir(fd)):
                _add(w, fd, child, f"{arcname.rstrip('/')}/{child}")
        finally:
            os.close(fd)
    elif info.isreg():
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            w.header(info)
            w.data(fd, info.size)
        finally:
            os.close(fd)
    else:
        w.header(info)


def _bind_mounts(rootfs: str, mounts: list[dict[str, Any]]) -> None:
    """Bind each mount point's source onto its destination inside the rootfs (this
    process's private namespace only), destinations made and resolved through descriptors."""
    from hako.linux import mount as mnt
    from hako.linux import syscalls
    from hako.support.fsroot import Root, proc_path

    for m in sorted(mounts, key=lambda m: m["destination"].rstrip("/").count("/")):
        if not os.path.exists(m["source"]):
            continue
        with Root(rootfs) as root:
            fd = root.make(m["destination"].lstrip("/"),
                           "dir" if os.path.isdir(m["source"]) else "file")
            try:
                syscalls.mount(m["source"], proc_path(fd), None, mnt.MS_BIND | mnt.MS_REC)
            finally:
                os.close(fd)
            if m.get("ro"):
                fd = root.lookup(m["destination"].lstrip("/"))
                try:
                    syscalls.mount(None, proc_path(fd), None,
                                   mnt.MS_BIND | mnt.MS_REMOUNT | mnt.MS_RDONLY)
                finally:
                    os.close(fd)


def _put(root: Any, req: dict[str, Any], body: Any) -> None:
    from hako.support import untar

    path = req["path"]
    try:
        fd = root.open_dir(_abs_path(path).lstrip("/"), entry=path)
    except FileNotFoundError:
        raise PathNotFound(f"Could not find the file {path} in container") from None
    except InvalidArgument:
        raise InvalidArgument("extraction point is not a directory") from None
    real = os.readlink(f"/proc/self/fd/{fd}")
    os.close(fd)
    base = os.path.realpath(root.path)
    sub = os.path.relpath(real, base) if real != base else ""
    if sub.startswith(".."):
        raise InvalidArgument("extraction point is not inside the container")
    if req.get("readonly_root") and not _in_rw_mount(real, req["rw_mounts"], base):
        raise PermissionDenied("container rootfs is marked read-only")
    opts = untar.Options(owner="keep" if req.get("copy_uid_gid") else (0, 0),
                         specials=untar.CREATE, xattrs=True, subdir=sub,
                         no_overwrite_dir_non_dir=bool(req.get("no_overwrite_dir_non_dir")))
    untar.extract(body or sys.stdin.buffer, root.path, opts)


def _request_body(req: dict[str, Any]) -> Any:
    """The body handed over by the daemon (the client's socket on stdin), or None (a pipe)."""
    spec = req.get("body")
    if spec is None:
        return None
    from hako.support.httpbody import BodyReader

    with os.fdopen(spec["prefix_fd"], "rb") as f:
        prefix = f.read()
    return BodyReader(0, prefix, spec["chunked"], spec["length"])


def _in_rw_mount(real: str, rw_mounts: list[str], base: str) -> bool:
    for dest in rw_mounts:
        target = os.path.join(base, dest.lstrip("/"))
        if real == target or real.startswith(target.rstrip("/") + "/"):
            return True
    return False


def helper_main(argv: list[str]) -> int:
    """Entry point of the helper (its own mount namespace; see the module docstring)."""
    from hako.errors import EngineError
    from hako.support.fsroot import Root

    req = json.loads(argv[0])
    body = _request_body(req) if req["op"] == "put" else None
    try:
        _bind_mounts(req["rootfs"], req.get("mounts") or [])
        with Root(req["rootfs"]) as root:
            if req["op"] == "put":
                _put(root, req, None if body is None else io.BufferedReader(body, _CHUNK))
                return 0
            res = Resolved(root, req["path"])
            try:
                doc = path_stat(res, req["path"])
                out = sys.stdout.buffer
                out.write(json.dumps(doc).encode() + b"\n")
                out.flush()
                if req["op"] == "get":
                    w = tarwrite.Writer(out)
                    _add(w, res.dirfd, res.base or ".", doc["name"].lstrip("/") or ".")
                    w.end()
                    out.flush()
            finally:
                os.close(res.dirfd)
        return 0
    except EngineError as exc:
        kind = "notfound" if isinstance(exc, NotFound) else \
            "denied" if isinstance(exc, PermissionDenied) else "invalid"
        sys.stderr.write(json.dumps({"error": kind, "message": str(exc)}) + "\n")
        return 1
    except OSError as exc:
        sys.stderr.write(json.dumps({"error": "invalid", "message": str(exc)}) + "\n")
        return 1
    finally:  # the daemon answers once this exits: read the client's body to its end first
        if body is not None:
            _drain(body)


def _drain(body: Any) -> None:
    try:
        body.drain()
    except (InvalidArgument, OSError):
        pass


if __name__ == "__main__":
    sys.exit(helper_main(sys.argv[1:]))
