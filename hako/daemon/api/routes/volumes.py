"""/volumes endpoints: parse → VolumeService → render (Docker's Volume objects)."""

from __future__ import annotations

import re
from typing import Any

from hako.daemon.api.router import EmptyResponse, JSONResponse, Request, Router
from hako.errors import InvalidArgument
from hako.opts.filters import match_labels, validate_keys

_LIST_FILTERS = ("dangling", "name", "label", "driver")
_PRUNE_FILTERS = ("label", "label!", "all")
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def register(r: Router) -> None:
    r.add("GET", "/volumes", list_volumes)
    r.add("POST", "/volumes/create", create)
    r.add("POST", "/volumes/prune", prune)
    r.add("GET", "/volumes/{name}", inspect)
    r.add("DELETE", "/volumes/{name}", remove)


def volume_json(vol: Any, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """Docker's Volume object (``UsageData`` only for ``system df``)."""
    out: dict[str, Any] = {
        "CreatedAt": vol.created_at, "Driver": vol.driver, "Labels": vol.labels,
        "Mountpoint": vol.mountpoint, "Name": vol.name, "Options": vol.options,
        "Scope": "local",
    }
    if usage is not None:
        out["UsageData"] = usage
    return out


def _matches_name(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern in name


def select(volumes: Any, filters: dict[str, Any]) -> list[Any]:
    """The volumes ``filters`` (dangling, name, label, driver) choose, as Docker.

    Raises:
        InvalidArgument: unknown filter key or a bad ``dangling`` value.
    """
    validate_keys(filters, _LIST_FILTERS)
    dangling = None
    for value in filters.get("dangling", ()):
        if value.lower() not in _TRUE + _FALSE:
            raise InvalidArgument(f"Invalid filter 'dangling={value}'")
        dangling = value.lower() in _TRUE
    out = []
    for vol in volumes.list():
        if dangling is not None and (not volumes.users(vol.name)) != dangling:
            continue
        names = filters.get("name")
        if names and not any(_matches_name(n, vol.name) for n in names):
            continue
        if filters.get("driver") and vol.driver not in filters["driver"]:
            continue
        if not match_labels(filters.get("label", ()), vol.labels):
            continue
        out.append(vol)
    return out


async def list_volumes(req: Request) -> JSONResponse:
    vols = select(req.services.volumes, req.query_filters())
    return JSONResponse({"Volumes": [volume_json(v) for v in vols], "Warnings": None})


async def create(req: Request) -> JSONResponse:
    body = await req.json(default={}) or {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body")
    for key in ("DriverOpts", "Labels"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise InvalidArgument(f"json: cannot unmarshal into Go struct field "
                                  f"VolumeCreateBody.{key} of type map[string]string")
    vol = await req.run(req.services.volumes.create, body.get("Name") or "",
                        body.get("Driver") or "local", body.get("DriverOpts"), body.get("Labels"))
    return JSONResponse(volume_json(vol), status=201)


async def inspect(req: Request) -> JSONResponse:
    return JSONResponse(volume_json(req.services.volumes.get(req.params["name"])))


async def remove(req: Request) -> EmptyResponse:
    await req.run(req.services.volumes.remove, req.params["name"], req.query_bool("force"))
    return EmptyResponse(204)


async def prune(req: Request) -> JSONResponse:
    filters = req.query_filters()
    validate_keys(filters, _PRUNE_FILTERS)
    want, unwanted = filters.get("label", ()), filters.get("label!", ())

    def keep(vol: Any) -> bool:
        if not match_labels(want, vol.labels):
            return True
        return bool(unwanted) and any(match_labels([u], vol.labels) for u in unwanted)

    removed, reclaimed = await req.run(req.services.volumes.prune, keep)
    return JSONResponse({"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed})
