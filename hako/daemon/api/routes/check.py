"""``GET /system/check`` (a hako extension): the store's consistency problems, if any."""

from __future__ import annotations

from hako.daemon.api.router import JSONResponse, Request, Router


def register(r: Router) -> None:
    r.add("GET", "/system/check", check)


async def check(req: Request) -> JSONResponse:
    from hako.daemon.check import problems

    svc = req.services
    found = await req.run(problems, svc.containers, svc.images)
    return JSONResponse({"Problems": found})
