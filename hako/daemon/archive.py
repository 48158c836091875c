"""``/containers/{id}/archive`` (docker cp): stat, read and write paths inside a container.

As moby's daemon/archive.go, the container's filesystem is its rootfs with its volumes and
bind mounts on top, whether it runs or not. The daemon side lives here: a ``Session`` takes
the container's lifecycle lock, mounts its rootfs and runs the helper
(``hako.daemon.archive_helper``, a ``python -S`` process in a private mount namespace when
the container has mount points), which stats, tars or untars through descriptors; the tar
of a GET is streamed from its stdout (``TarStream``), the body of a PUT is the client's
socket handed to it (or relayed into its stdin). ``HEAD`` of a container without mount
points is answered by the daemon itself.

Layer: daemon (6).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from hako.daemon.archive_helper import PathNotFound
from hako.errors import InvalidArgument, PermissionDenied

__all__ = ["PathNotFound", "Session", "TarStream", "get_path", "put_path", "stat_header",
           "stat_path"]

_CHUNK = 1 << 20


def stat_header(doc: dict[str, Any]) -> str:
    """The ``X-Docker-Container-Path-Stat`` header value (base64 of the JSON)."""
    import base64  # daemon side only: the helper starts without it (and without logging)

    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


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
_HELPER_BOOT = ("import sys; from hako.daemon.archive_helper import helper_main; "
                "sys.exit(helper_main(sys.argv[1:]))")
_HELPER_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
               "MALLOC_TRIM_THRESHOLD_": str(128 << 20),
               "PYTHONPATH": _PKG_ROOT + (os.pathsep + os.environ["PYTHONPATH"]
                                          if os.environ.get("PYTHONPATH") else "")}
_background: set[Any] = set()  # sessions' closes (tasks held strongly until done)


def _stat_here(rootfs: str, path: str, cid: str) -> dict[str, Any]:
    """The PathStat read by the daemon itself (no mount point to bind: no helper needed)."""
    from hako.daemon.archive_helper import Resolved, path_stat
    from hako.support.fsroot import Root

    try:
        with Root(rootfs) as root:
            res = Resolved(root, path)
            try:
                return path_stat(res, path)
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

