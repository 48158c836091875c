"""/exec endpoints: create, start (hijacked or detached), inspect, resize."""

from __future__ import annotations

import asyncio

from hako.daemon.api.router import EmptyResponse, HijackResponse, JSONResponse, Request, Router
from hako.daemon.attach import AttachSession, frame, parse_detach_keys
from hako.errors import InvalidArgument

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"


def register(r: Router) -> None:
    r.add("POST", "/containers/{id}/exec", create)
    r.add("POST", "/exec/{id}/start", start)
    r.add("POST", "/exec/{id}/resize", resize)
    r.add("GET", "/exec/{id}/json", inspect)


async def create(req: Request) -> JSONResponse:
    body = await req.json(default=None)
    if not isinstance(body, dict):
        raise InvalidArgument("No exec command specified")
    eid = await req.run(req.services.execs.create, req.params["id"], body)
    return JSONResponse({"Id": eid}, status=201)


async def start(req: Request):
    body = await req.json(default={}) or {}
    execs = req.services.execs
    detach = bool(body.get("Detach"))
    inst = await execs.start(req.params["id"], detach, body.get("Tty"))
    if detach:
        await execs.run(inst)
        return EmptyResponse(200)
    cfg = inst.config
    # Docker frames the stream unless the start body says Tty (the process's pty comes from
    # the exec config); a client that omits it gets the exec's own setting.
    tty = bool(cfg.get("Tty") if body.get("Tty") is None else body.get("Tty"))
    keys = parse_detach_keys(cfg.get("DetachKeys"))

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AttachSession(reader, writer, tty=tty, stdin=bool(cfg.get("AttachStdin")),
                                stdout=bool(cfg.get("AttachStdout", True)),
                                stderr=bool(cfg.get("AttachStderr", True)), detach_keys=keys)
        await session.connect(inst.handle)
        try:
            await execs.run(inst)
        except Exception as exc:  # noqa: BLE001 - hijacked: the error goes into the stream
            text = str(exc).replace("OCI runtime start failed", "OCI runtime exec failed")
            data = (text + ": unknown\r\n").encode()
            writer.write(data if tty else frame(1, data))
            await writer.drain()
            writer.close()
            return
        try:
            await session.done
            await execs.wait_exit(inst)
        finally:
            writer.close()

    return HijackResponse(handler, content_type=RAW if tty else MUX)


async def resize(req: Request) -> EmptyResponse:
    await req.run(req.services.execs.resize, req.params["id"], req.query_int("h", 0), req.query_int("w", 0))
    return EmptyResponse(201)


async def inspect(req: Request) -> JSONResponse:
    return JSONResponse(await req.run(req.services.execs.inspect, req.params["id"]))  # reads exit.json
