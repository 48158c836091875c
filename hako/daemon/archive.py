"""``/containers/{id}/archive`` (docker cp): stat, read and write paths inside a container.

As moby's daemon/archive.go, the container's filesystem is its rootfs with its volumes and
bind mounts on top, whether it runs or not. The work happens in a helper process
(``python -S`` running ``helper_main``), started under ``unshare -m --propagation private``
when the container has mount points: it bind-mounts them onto the rootfs in its private
mount namespace (they vanish with it; the host's and the container's mount tables never
change), then::

    stat PATH        → one JSON line: Docker's PathStat (name, size, mode, mtime, linkTarget)
    get PATH         → the PathStat line, then the tar of PATH on stdout
    put PATH         ← a tar on stdin, extracted into the directory PATH

Paths are hostile: the directory part of PATH is resolved inside the rootfs through
descriptors (``hako.support.fsroot``, symlinks interpreted inside the root), the final
component is never followed (a link is archived as a link, as Docker), every file is
opened with ``O_NOFOLLOW`` relative to its directory's descriptor, and ``put`` goes through
the one extractor (``hako.support.untar``), so no entry and no symlink inside the container
can make the helper read or write outside it.

Errors travel back as one JSON line ``{"error": kind, "message": text}`` on stderr with
exit status 1; ``raise_helper_error`` turns them into error kinds.

Layer: daemon (6).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
import time
from typing import Any, BinaryIO

from hako.errors import InvalidArgument, NotFound, PermissionDenied

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


def stat_header(doc: dict[str, Any]) -> str:
    """The ``X-Docker-Container-Path-Stat`` header value (base64 of the JSON)."""
    import base64  # daemon side only: the helper starts without it (and without logging)

    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def _rfc3339(ts: float) -> str:
    secs = int(ts)
    frac = int(round((ts - secs) * 1e9))
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{frac:09d}Z".replace(".000000000Z", "Z")


# -- helper side (runs in its own mount namespace) ---------------------------------------
def _abs_path(path: str) -> str:
    """Docker's PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)."""
    import posixpath

    clean = posixpath.normpath("/" + path)
    if path.endswith("/.") and clean != "/":
        return clean + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


class _Resolved:
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


def _path_stat(res: _Resolved, path: str) -> dict[str, Any]:
    try:
        st = res.lstat()
    except PathNotFound:
        raise PathNotFound(f"Could not find the file {path} in container") from None
    return {"name": res.name(), "size": st.st_size, "mode": go_mode(st.st_mode),
            "mtime": _rfc3339(st.st_mtime), "linkTarget": res.link_target(st)}


class _TarWriter:
    """Writes a tree as tar entries, reading only through descriptors (O_NOFOLLOW)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out  # headers are written here; file data goes by sendfile to its fd
        self.links: dict[tuple[int, int], str] = {}

    def _header(self, info: tarfile.TarInfo) -> None:
        self.out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _data(self, fd: int, size: int) -> None:
        """``size`` bytes of file ``fd`` by the kernel (zeros if it shrank meanwhile), padded."""
        self.out.flush()
        out, offset = self.out.fileno(), 0
        while offset < size:
            sent = os.sendfile(out, fd, offset, min(size - offset, 1 << 30))
            if sent == 0:  # the file shrank while being archived
                self.out.write(b"\0" * (size - offset))
                break
            offset += sent
        if size % tarfile.BLOCKSIZE:
            self.out.write(b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE))

    def add(self, dirfd: int, name: str, arcname: str) -> None:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in self.links:
            info.type, info.linkname = tarfile.LNKTYPE, self.links[key]
            self._header(info)
            return
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            self._header(info)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=dirfd)
            try:
                for child in sorted(os.listdir(fd)):
                    self.add(fd, child, f"{arcname.rstrip('/')}/{child}")
            finally:
                os.close(fd)
        elif stat.S_ISREG(st.st_mode):
            info.size = st.st_size
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            try:
                self._header(info)
                self._data(fd, info.size)
            finally:
                os.close(fd)
            if st.st_nlink > 1:
                self.links[key] = arcname
        elif stat.S_ISLNK(st.st_mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dirfd)
            self._header(info)
        elif stat.S_ISFIFO(st.st_mode):
            info.type = tarfile.FIFOTYPE
            self._header(info)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self._header(info)
        # sockets are skipped, as Docker's archiver does

    def close(self) -> None:
        self.out.write(b"\0" * (2 * tarfile.BLOCKSIZE))
        self.out.flush()


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
            res = _Resolved(root, req["path"])
            try:
                doc = _path_stat(res, req["path"])
                out = sys.stdout.buffer
                out.write(json.dumps(doc).encode() + b"\n")
                out.flush()
                if req["op"] == "get":
                    w = _TarWriter(out)
                    arcname = doc["name"].lstrip("/") or "."
                    if res.base:
                        w.add(res.dirfd, res.base, arcname)
                    else:
                        w.add(res.dirfd, ".", arcname)
                    w.close()
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


def raise_helper_error(stderr: bytes, path: str, cid: str) -> None:
    """Turn the helper's error line into an error kind (Docker's texts)."""
    from hako.errors import Internal

    line = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    try:
        doc = json.loads(line[0])
    except ValueError:
        raise Internal(f"archive helper failed: {stderr.decode(errors='replace').strip()}") from None
    message = doc.get("message") or ""
    if doc.get("error") == "notfound":
        raise PathNotFound(f"Could not find the file {path} in container {cid}")
    if doc.get("error") == "denied":
        raise PermissionDenied(message)
    raise InvalidArgument(message)


# -- daemon side ---------------------------------------------------------------------------
class Session:
    """One helper run for a container, holding its lifecycle lock (no start, stop or rm
    meanwhile) and its rootfs mounted until ``close``.

    The container is entered through ``ContainerService.settled`` (its last run wholly over,
    the lock taken). ``close`` runs in a task of its own, to its end: a caller cancelled
    meanwhile (the API server cancels the streaming of an answer whose client went away)
    can neither leave the lock held for ever nor release it before the rootfs is unmounted.
    """

    def __init__(self, svc: Any, c: Any) -> None:
        self.svc, self.c = svc, c
        self.proc: Any = None
        self._mounted_here = False
        self._access: Any = None  # the entered settled(lock=True) context, until released
        self._closing: Any = None  # the task of close
        self.op = ""
        self.req: dict[str, Any] = {}

    async def prepare(self, op: str, path: str, **extra: Any) -> dict[str, Any]:
        """Take the lock and mount the rootfs; the helper's request (``mounts``: the mount
        points the helper must bind, none for a container without volumes or binds)."""
        import asyncio
        import contextlib

        from hako.daemon import bundle

        loop = asyncio.get_running_loop()
        access = contextlib.AsyncExitStack()
        await access.enter_async_context(self.svc.settled(self.c, lock=True))
        self._access = access
        self.op = op
        try:
            was = self.c.state.running
            rootfs = await loop.run_in_executor(None, bundle.mount_rootfs, self.svc, self.c)
            self._mounted_here = not was
        except BaseException:
            await self.close()
            raise
        hc = self.c.host_config
        mounts = [{"source": mp["Source"], "destination": mp["Destination"],
                   "ro": not mp["RW"]} for mp in self.c.mounts if mp["Type"] != "tmpfs"]
        self.req = {"op": op, "path": path, "rootfs": rootfs, "mounts": mounts,
                    "readonly_root": bool(hc.get("ReadonlyRootfs")),
                    "rw_mounts": [m["destination"] for m in mounts if not m["ro"]], **extra}
        return self.req

    async def open(self, op: str, path: str, stdin: bool | int = False,
                   pass_fds: tuple[int, ...] = (), **extra: Any) -> Any:
        """Take the lock, mount, start the helper; ``stdin``: True for a pipe, or a
        descriptor to give it."""
        await self.prepare(op, path, **extra)
        return await self.spawn(stdin, pass_fds)

    async def spawn(self, stdin: bool | int = False, pass_fds: tuple[int, ...] = ()) -> Any:
        import asyncio

        req = self.req
        try:
            # a private mount namespace only when there are mount points to bind
            ns = ["unshare", "-m", "--propagation", "private"] if req["mounts"] else []
            self.proc = await asyncio.create_subprocess_exec(
                *ns, sys.executable, "-S", "-c", _HELPER_BOOT, json.dumps(req), env=_HELPER_ENV,
                stdin=asyncio.subprocess.PIPE if stdin is True else
                stdin if stdin is not False else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                pass_fds=pass_fds)
            return self.proc
        except BaseException:
            await self.close()
            raise

    async def fail_if_failed(self, path: str) -> None:
        """Wait for the helper; raise its error if it failed."""
        err = await self.proc.stderr.read()
        code = await self.proc.wait()
        if code != 0:
            raise_helper_error(err, path, self.c.id)

    async def close(self, unmount_later: bool = False) -> None:
        """End the helper, unmount a rootfs mounted for this session, release the lock (once;
        later calls wait for the first). ``unmount_later``: answer the client first; the
        unmount (overlayfs syncs its upper directory: what a ``cp`` wrote) finishes in the
        background, the lock held until then."""
        import asyncio

        later = unmount_later and self._mounted_here and not self.c.state.running
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._finish(background=later))
            _background.add(self._closing)
            self._closing.add_done_callback(_closed)
        if not later:
            await asyncio.shield(self._closing)

    async def _finish(self, background: bool) -> None:
        try:
            await self._end_helper()
        finally:
            if self._access is not None:
                await self._release(background)

    async def _end_helper(self) -> None:
        """Kill the helper if it runs and reap it. What it wrote and nobody read is read
        and dropped: asyncio's ``wait`` returns only once the pipes are closed, and the
        reading of a pipe whose reader fell behind (a client that stopped reading) is
        paused."""
        import asyncio

        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        if proc.stdin is not None:
            proc.stdin.close()
        await asyncio.gather(*(_drop(s) for s in (proc.stdout, proc.stderr) if s is not None))
        await proc.wait()

    async def _release(self, background: bool = False) -> None:
        import asyncio

        from hako.daemon import bundle

        try:
            if self._mounted_here and not self.c.state.running:
                await asyncio.get_running_loop().run_in_executor(
                    None, bundle.unmount_rootfs, self.svc, self.c)
            elif self.op == "put" and self.proc is not None and self.proc.returncode == 0:
                await asyncio.get_running_loop().run_in_executor(
                    None, bundle.reshift_rootfs, self.svc, self.c)
        except Exception:  # noqa: BLE001 - logged: its caller may be gone
            import logging

            logging.getLogger(__name__).exception("cp: unmounting the rootfs of %s", self.c.id)
            if not background:
                raise
        finally:
            access, self._access = self._access, None
            await access.aclose()  # the lock


async def _drop(stream: Any) -> None:
    while await stream.read(_CHUNK):
        pass


def _closed(task: Any) -> None:
    """A session's close is over: forget its task (its error, if any, was logged)."""
    _background.discard(task)
    if not task.cancelled():
        task.exception()


# glibc serves the helper's large buffers (tar reads of up to 1 MiB) with a fresh mmap each,
# and gives freed heap back at once: 100 MB copied in took 70,000 page faults and a quarter
# second of system time. A short-lived helper keeps its heap instead (fixed thresholds).
# The helper starts without the site module (as the shim: ~60 ms less under load), with
# hako's package root on its path.
_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_HELPER_BOOT = "import sys; from hako.daemon.archive import helper_main; sys.exit(helper_main(sys.argv[1:]))"
_HELPER_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
               "MALLOC_TRIM_THRESHOLD_": str(128 << 20),
               "PYTHONPATH": _PKG_ROOT + (os.pathsep + os.environ["PYTHONPATH"]
                                          if os.environ.get("PYTHONPATH") else "")}
_background: set[Any] = set()  # sessions' closes (tasks held strongly until done)


def _stat_here(rootfs: str, path: str, cid: str) -> dict[str, Any]:
    """The PathStat read by the daemon itself (no mount point to bind: no helper needed)."""
    from hako.support.fsroot import Root

    try:
        with Root(rootfs) as root:
            res = _Resolved(root, path)
            try:
                return _path_stat(res, path)
            finally:
                os.close(res.dirfd)
    except PathNotFound:
        raise PathNotFound(f"Could not find the file {path} in container {cid}") from None
    except OSError as exc:
        raise InvalidArgument(str(exc)) from None


async def stat_path(svc: Any, c: Any, path: str) -> dict[str, Any]:
    """Docker's PathStat of ``path`` in ``c``.

    Raises:
        PathNotFound: ``Could not find the file PATH in container ID``.
    """
    import asyncio

    session = Session(svc, c)
    try:
        req = await session.prepare("stat", path)
        if not req["mounts"]:
            return await asyncio.get_running_loop().run_in_executor(
                None, _stat_here, req["rootfs"], path, c.id)
        proc = await session.spawn()
        line = await proc.stdout.readline()
        await session.fail_if_failed(path)
        return json.loads(line)
    finally:
        await session.close()


async def get_path(svc: Any, c: Any, path: str) -> tuple[dict[str, Any], "TarStream"]:
    """The PathStat and the tar of ``path`` (the container stays locked until the stream
    is read to its end or closed)."""
    session = Session(svc, c)
    try:
        proc = await session.open("get", path)
        line = await proc.stdout.readline()
        if not line:
            await session.fail_if_failed(path)
        doc = json.loads(line)
    except BaseException:
        await session.close()
        raise
    return doc, TarStream(session, path)


class TarStream:
    """The helper's tar as an async iterator of chunks. ``aclose`` ends the helper and
    releases the container, whether the stream was read to its end, partly or not at all;
    the API server calls it for every streamed answer (a generator's ``finally`` ran only if
    the generator had started, and a disconnect could cancel it halfway)."""

    def __init__(self, session: Session, path: str) -> None:
        self._session, self._path = session, path
        self._ended = self._closed = False

    def __aiter__(self) -> "TarStream":
        return self

    async def __anext__(self) -> bytes:
        if self._ended:
            raise StopAsyncIteration
        try:
            chunk = await self._session.proc.stdout.read(_CHUNK)
            if chunk:
                return chunk
            self._ended = True
            await self._session.fail_if_failed(self._path)
        except BaseException:
            self._ended = True
            await self.aclose()
            raise
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._session.close()


async def put_path(svc: Any, c: Any, path: str, body: Any, no_overwrite_dir_non_dir: bool,
                   copy_uid_gid: bool) -> None:
    """Extract the tar ``body`` into directory ``path``. ``body`` is a
    ``support.httpbody.Handoff`` (the helper reads the client's socket itself; closed here)
    or an async iterator of bytes (relayed to the helper's stdin).

    Raises:
        PathNotFound, InvalidArgument, PermissionDenied: Docker's texts.
    """
    from hako.support.httpbody import Handoff

    session = Session(svc, c)
    handoff = body if isinstance(body, Handoff) else None
    prefix_fd, done = -1, False
    try:
        extra: dict[str, Any] = {"no_overwrite_dir_non_dir": no_overwrite_dir_non_dir,
                                 "copy_uid_gid": copy_uid_gid}
        if handoff is not None:
            prefix_fd = _prefix_file(handoff.prefix)
            extra["body"] = {"chunked": handoff.chunked, "length": handoff.length,
                             "prefix_fd": prefix_fd}
            await session.open("put", path, stdin=handoff.fd, pass_fds=(prefix_fd,), **extra)
            handoff.close()
            os.close(prefix_fd)
            prefix_fd = -1
        else:
            proc = await session.open("put", path, stdin=True, **extra)
            await _relay(body, proc)
        await session.fail_if_failed(path)
        done = True
    finally:
        if handoff is not None:
            handoff.close()
        if prefix_fd >= 0:
            os.close(prefix_fd)
        await session.close(unmount_later=done)


def _prefix_file(data: bytes) -> int:
    """A memfd holding ``data``, positioned at its start (the body bytes the daemon read)."""
    fd = os.memfd_create("hako-cp-body", os.MFD_CLOEXEC)  # given to the helper by pass_fds
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


async def _relay(body: Any, proc: Any) -> None:
    """Copy an async iterator of bytes to the helper's stdin (TLS connections)."""
    try:
        async for chunk in body:
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the helper stopped reading: its error says why


if __name__ == "__main__":
    sys.exit(helper_main(sys.argv[1:]))
