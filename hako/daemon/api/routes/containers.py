"""/containers endpoints: parse → ContainerService → render."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hako.daemon import fields, listing, resources, wiretypes
from hako.daemon.api import wire
from hako.daemon.api.router import (
    EmptyResponse, HijackResponse, JSONResponse, Request, Router, StreamResponse)
from hako.daemon.attach import AttachSession, log_frames, parse_detach_keys
from hako.daemon.state import Status
from hako.errors import Conflict, InvalidArgument, NotFound, Unavailable

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"


def register(r: Router) -> None:
    r.add("POST", "/containers/create", create)
    r.add("GET", "/containers/json", list_containers)
    r.add("POST", "/containers/prune", prune)
    r.add("GET", "/containers/{id}/json", inspect)
    r.add("POST", "/containers/{id}/start", start)
    r.add("POST", "/containers/{id}/stop", stop)
    r.add("POST", "/containers/{id}/kill", kill)
    r.add("POST", "/containers/{id}/restart", restart)
    r.add("POST", "/containers/{id}/wait", wait)
    r.add("DELETE", "/containers/{id}", remove)
    r.add("DELETE", "/containers/{id:.+}", remove)  # rm -l parent/alias
    r.add("POST", "/containers/{id}/pause", pause)
    r.add("POST", "/containers/{id}/unpause", unpause)
    r.add("POST", "/containers/{id}/rename", rename)
    r.add("GET", "/containers/{id}/top", top)
    r.add("GET", "/containers/{id}/logs", logs)
    r.add("POST", "/containers/{id}/attach", attach)
    r.add("GET", "/containers/{id}/attach/ws", attach_ws)
    r.add("POST", "/containers/{id}/resize", resize)
    r.add("GET", "/containers/{id}/changes", changes)
    r.add("GET", "/containers/{id}/export", export)
    r.add("POST", "/containers/{id}/update", update)
    r.add("GET", "/containers/{id}/stats", stats)
    r.add("GET", "/containers/{id}/archive", get_archive)
    r.add("HEAD", "/containers/{id}/archive", head_archive)
    r.add("PUT", "/containers/{id}/archive", put_archive)


async def create(req: Request) -> JSONResponse:
    body = await req.json(default=None)
    if not isinstance(body, dict):
        raise InvalidArgument("Config cannot be empty in order to create a container")
    wiretypes.check_create_body(body)
    if req.api_version < 1.44 and isinstance(body.get("Healthcheck"), dict):
        body["Healthcheck"].pop("StartInterval", None)  # not in the API before 1.44: as Docker
    fields.check_create(body)  # fail closed: nothing accepted and then ignored
    svc = req.services.containers
    cid, warnings = await req.run(svc.create, req.query.get("name") or None, body)
    return JSONResponse({"Id": cid, "Warnings": warnings}, status=201)


def _sizes(req: Request, c: Any) -> tuple[int, int] | None:
    try:
        return req.services.images.rootfs_size(c.id)
    except Exception:  # noqa: BLE001 - size is best effort
        return (0, 0)


async def list_containers(req: Request) -> JSONResponse:
    svc = req.services.containers
    images = req.services.images

    def ancestor(c: Any, ref: str) -> bool:
        try:
            return images.get(ref).id == c.image
        except Exception:  # noqa: BLE001 - unknown ancestor matches nothing
            return c.image_ref == ref

    limit = req.query_int("limit", 0) or req.query_int("last", 0) or 0
    chosen = listing.select(svc.list(), req.query_filters(), req.query_bool("all"), limit, svc.get, ancestor)
    want_size = req.query_bool("size")

    def render() -> list[dict]:
        return [wire.list_json(c, _sizes(req, c) if want_size else None) for c in chosen]

    return JSONResponse(await req.run(render) if want_size else render())


async def inspect(req: Request) -> JSONResponse:
    svc = req.services.containers
    c = svc.get(req.params["id"])
    async with svc.settled(c, timeout=10.0):
        sizes = await req.run(_sizes, req, c) if req.query_bool("size") else None
        return JSONResponse(wire.inspect_json(c, sizes=sizes))


async def start(req: Request) -> EmptyResponse:
    await req.services.containers.start(req.params["id"])
    return EmptyResponse(204)


def _timeout(req: Request) -> int | None:
    return req.query_int("t", None) if "t" in req.query else req.query_int("timeout", None)


async def stop(req: Request) -> EmptyResponse:
    await req.services.containers.stop(req.params["id"], _timeout(req), req.query.get("signal"))
    return EmptyResponse(204)


async def kill(req: Request) -> EmptyResponse:
    await req.services.containers.kill(req.params["id"], req.query.get("signal") or None)
    return EmptyResponse(204)


async def restart(req: Request) -> EmptyResponse:
    await req.services.containers.restart(req.params["id"], _timeout(req))
    return EmptyResponse(204)


async def wait(req: Request) -> StreamResponse:
    svc = req.services.containers
    fut = svc.wait_future(req.params["id"], req.query.get("condition", ""))
    c = svc.get(req.params["id"])

    async def body():
        try:
            yield b""
            if fut is not None:
                await fut
            yield (b'{"Error":null,"StatusCode":%d}\n' % c.state.exit_code)
        finally:
            if fut is not None and not fut.done():
                fut.cancel()  # the client left: the service skips cancelled waiters

    return StreamResponse(body())


async def remove(req: Request) -> EmptyResponse:
    if req.query_bool("link"):
        await req.services.containers.remove_link(req.params["id"])
        return EmptyResponse(204)
    await req.services.containers.remove(req.params["id"], req.query_bool("force"), req.query_bool("v"))
    return EmptyResponse(204)


async def pause(req: Request) -> EmptyResponse:
    await req.services.containers.pause(req.params["id"])
    return EmptyResponse(204)


async def unpause(req: Request) -> EmptyResponse:
    await req.services.containers.unpause(req.params["id"])
    return EmptyResponse(204)


async def rename(req: Request) -> EmptyResponse:
    await req.services.containers.rename(req.params["id"], req.query.get("name", ""))
    return EmptyResponse(204)


async def top(req: Request) -> JSONResponse:
    svc = req.services.containers
    return JSONResponse(await req.run(svc.top, req.params["id"], req.query.get("ps_args", "")))


def _since_ns(value: str, name: str) -> int | None:
    """Docker's ``secs[.nanos]`` timestamps, exactly (a float would lose the nanoseconds)."""
    if not value or value == "0":
        return None
    secs, _, frac = value.partition(".")
    if not secs.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        raise InvalidArgument(f"invalid value for {name}: {value}")
    return int(secs) * 1_000_000_000 + int(frac[:9].ljust(9, "0") or 0)


async def logs(req: Request) -> StreamResponse:
    from hako.daemon import logconfig
    from hako.runtime import logread

    c = req.services.containers.get(req.params["id"])
    logconfig.check_readable(c.host_config)
    stdout, stderr = req.query_bool("stdout"), req.query_bool("stderr")
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_text = req.query.get("tail", "all")
    tail = None if tail_text in ("", "all") else int(tail_text) if tail_text.lstrip("-").isdigit() else None
    if tail is not None and tail < 0:
        tail = None
    follow = req.query_bool("follow")
    tty = bool(c.config.get("Tty"))
    entries = logread.read_logs(
        c.log_path, stdout=stdout, stderr=stderr, since_ns=_since_ns(req.query.get("since", ""), "since"),
        until_ns=_since_ns(req.query.get("until", ""), "until"), tail=tail, timestamps=req.query_bool("timestamps"),
        details=req.query_bool("details"), follow=follow and c.state.running,
        stop=lambda: not c.state.running or req.disconnected.is_set())
    return StreamResponse(log_frames(entries, tty), content_type=RAW if tty else MUX)


async def attach(req: Request) -> HijackResponse:
    svc, c, keys, want, tty = _attach_target(req)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _attach_run(svc, c, want, tty, keys, reader, writer, mux=True)

    return HijackResponse(handler, content_type=RAW if tty else MUX)


async def attach_ws(req: Request) -> HijackResponse:
    """``GET /containers/{id}/attach/ws``: the attach over a websocket, each chunk of
    output one message, never multiplexed (moby's wsContainersAttach); the client's
    messages are the container's stdin."""
    from hako.daemon.api import websocket as ws

    key = ws.check_handshake(req.headers)
    svc, c, keys, want, tty = _attach_target(req)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        w = ws.WsWriter(writer)
        try:
            await _attach_run(svc, c, want, tty, keys, ws.WsReader(reader, w), w, mux=False)
        finally:
            w.close()

    return HijackResponse(handler, content_type="", websocket_accept=ws.accept_key(key))


def _attach_target(req: Request) -> tuple[Any, Any, bytes, dict[str, bool], bool]:
    svc = req.services.containers
    c = svc.get(req.params["id"])
    if c.state.status == Status.PAUSED:
        raise Conflict(f"You cannot attach to a paused container, unpause it first")
    keys = parse_detach_keys(req.query.get("detachKeys"))
    want = {k: req.query_bool(k) for k in ("stdin", "stdout", "stderr", "stream", "logs")}
    return svc, c, keys, want, bool(c.config.get("Tty"))


async def _attach_run(svc: Any, c: Any, want: dict[str, bool], tty: bool, keys: bytes,
                      reader: Any, writer: Any, mux: bool) -> None:
    """Replay the logs and/or stream the container's stdio over the hijacked connection."""
    if want["logs"]:
        await _replay_logs(c, want, tty or not mux, writer)
    if not want["stream"]:
        writer.close()
        return
    session = AttachSession(reader, writer, tty=tty, stdin=want["stdin"] and bool(c.config.get("OpenStdin")),
                            stdout=want["stdout"], stderr=want["stderr"], detach_keys=keys, mux=mux)
    handle = svc.shim(c)
    if handle is not None and c.state.running:
        try:
            await session.connect(handle)
        except Unavailable:
            # the shim left with the container, whose exit is not handled yet: the stream
            # of a stopped container, which ends at once (as Docker's)
            writer.close()
            return
    else:
        svc.add_pending_attach(c, session)
    try:
        await session.done
    finally:
        svc.drop_pending_attach(c, session)
        writer.close()


async def _replay_logs(c: Any, want: dict[str, bool], tty: bool, writer: asyncio.StreamWriter) -> None:
    from hako.runtime import logread

    def collect() -> list[bytes]:
        if not c.log_path:
            return []  # the none driver
        entries = logread.read_logs(c.log_path, stdout=want["stdout"], stderr=want["stderr"], tail=None, timestamps=False, follow=False, stop=lambda: True)
        return list(log_frames(entries, tty))

    for chunk in await asyncio.get_running_loop().run_in_executor(None, collect):
        writer.write(chunk)
    await writer.drain()


async def resize(req: Request) -> EmptyResponse:
    c = req.services.containers.get(req.params["id"])
    h, w = req.query_int("h", 0), req.query_int("w", 0)
    handle = req.services.containers.shim(c)
    if handle is None or not c.state.running:
        raise Conflict(f"Container {c.id} is not running")
    await req.run(handle.resize, h, w)
    return EmptyResponse(200)


# What Docker's init layer holds (mount points and the files the daemon provides): never
# reported as changes, nor the directories that changed only because of them.
_INIT_PATHS = ("/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab",
               "/dev/console", "/dev/pts", "/dev/shm", "/proc", "/sys")


def _visible_changes(items: list[dict] | None) -> list[dict]:
    items = items or []
    hidden = [i["Path"] for i in items if i["Path"] in _INIT_PATHS]
    rest = [i for i in items if i["Path"] not in _INIT_PATHS]

    def only_for_hidden(item: dict) -> bool:
        prefix = item["Path"].rstrip("/") + "/"
        return (item["Kind"] == 0 and any(h.startswith(prefix) for h in hidden)
                and not any(o["Path"].startswith(prefix) for o in rest))

    return [i for i in rest if not only_for_hidden(i)]


async def changes(req: Request) -> JSONResponse:
    svc = req.services.containers
    c = svc.get(req.params["id"])
    async with svc.settled(c):
        changes = await req.run(req.services.images.changes, c.id)
    return JSONResponse(_visible_changes(changes) or None)


async def export(req: Request) -> StreamResponse:
    svc = req.services.containers
    c = svc.get(req.params["id"])
    async with svc.settled(c):
        from hako.daemon.bundle import running_ids

        return StreamResponse(req.services.images.export(c.id, running_ids(svc, c)),
                              content_type="application/x-tar")


async def update(req: Request) -> JSONResponse:
    body = await req.json(default={}) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the body must be an update config object")
    svc = req.services.containers
    c = svc.get(req.params["id"])
    fields.check_update(body)
    warnings = await req.run(resources.update, svc, c, body)
    return JSONResponse({"Warnings": warnings or None})


async def stats(req: Request) -> StreamResponse:
    svc = req.services.containers
    c = svc.get(req.params["id"])
    stream = req.query_bool("stream", True)
    one_shot = req.query_bool("one-shot")

    async def body():
        pre = None
        if not one_shot and c.state.running:  # Docker's first answer has a previous sample
            pre = await req.run(resources.stats, svc, c)
            await asyncio.sleep(1)
        while True:
            sample = await req.run(resources.stats, svc, c, pre)
            yield json.dumps(sample).encode() + b"\n"
            if not stream or not c.state.running:
                return
            pre = sample
            await asyncio.sleep(1)

    return StreamResponse(body())


async def prune(req: Request) -> JSONResponse:
    svc = req.services.containers
    labels = req.query_filters().get("label", [])
    deleted, reclaimed = [], 0
    for c in list(svc.list()):
        if not resources.is_prunable(c) or not listing.labels_match(c, labels):
            continue
        size = (await req.run(_sizes, req, c) or (0, 0))[0]
        try:
            await svc.remove(c.id)
        except (Conflict, NotFound):  # started or removed meanwhile: not pruned, as Docker
            continue
        deleted.append(c.id)
        reclaimed += size
    return JSONResponse({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})


_STAT_HEADER = "X-Docker-Container-Path-Stat"


def _archive_path(req: Request) -> str:
    path = req.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")  # moby: "Path cannot be empty"
    return path


async def head_archive(req: Request) -> EmptyResponse:
    from hako.daemon import archive

    c = req.services.containers.get(req.params["id"])
    doc = await archive.stat_path(req.services.containers, c, _archive_path(req))
    return EmptyResponse(200, headers=[(_STAT_HEADER, archive.stat_header(doc)),
                                       ("Content-Type", "application/json")])


async def get_archive(req: Request) -> StreamResponse:
    from hako.daemon import archive

    if req.method == "HEAD":
        return await head_archive(req)  # type: ignore[return-value]
    c = req.services.containers.get(req.params["id"])
    doc, chunks = await archive.get_path(req.services.containers, c, _archive_path(req))
    return StreamResponse(chunks, content_type="application/x-tar",
                          headers=[(_STAT_HEADER, archive.stat_header(doc))])


async def put_archive(req: Request) -> EmptyResponse:
    from hako.daemon import archive

    c = req.services.containers.get(req.params["id"])
    path = _archive_path(req)
    body = await req.take_body() or req.stream()
    await archive.put_path(req.services.containers, c, path, body,
                           req.query_bool("noOverwriteDirNonDir"), req.query_bool("copyUIDGID"))
    return EmptyResponse(200)
