"""POST /build (the legacy builder protocol of Engine API v1.41): parse → Builder → stream.

The context (uploaded tar or ``remote``) is extracted and the Dockerfile parsed before the
response starts, so those errors are plain HTTP errors as in Docker; step output and step
errors are JSON lines (``stream``, ``aux``, ``errorDetail``).
Layer 6 (daemon). May import: everything below.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from hako.daemon import pools
from hako.daemon.api.router import JSONResponse, Request, Router, StreamResponse
from hako.errors import InvalidArgument


def register(router: Router) -> None:
    router.add("POST", "/build", build)
    router.add("POST", "/build/prune", prune)


# moby's accepted build-cache filter keys (builder-next/prune filters)
PRUNE_FILTERS = ("until", "id", "parent", "type", "description", "inuse", "shared", "private",
                 "unused-for", "label")


async def prune(req: Request) -> Any:
    """POST /build/prune: the legacy builder keeps no cache apart from images, so nothing is
    ever deleted (``docker system df`` reports a build cache of 0B); filters are validated."""
    from hako.opts.filters import validate_keys

    validate_keys(req.query_filters(), PRUNE_FILTERS)
    return JSONResponse({"CachesDeleted": None, "SpaceReclaimed": 0})


def build_options(req: Request) -> Any:
    """Query parameters → BuildOptions.

    Raises:
        InvalidArgument: malformed JSON parameters or tags.
    """
    from hako.build.builder import BuildOptions
    from hako.build.context import check_remote_url
    from hako.oci import reference

    from hako.daemon import fields

    if req.query.get("remote"):
        check_remote_url(req.query["remote"])  # before the body is read or anything fetched
    fields.check_build_query({k: req.query_all(k)[-1] for k in fields.BUILD_QUERY if req.query_all(k)})

    tags = [t for t in req.query_all("t") if t]
    for tag in tags:
        reference.parse(tag)
    buildargs = req.query_json("buildargs", {}) or {}
    labels = req.query_json("labels", {}) or {}
    if not isinstance(buildargs, dict) or not isinstance(labels, dict):
        raise InvalidArgument("buildargs and labels must be JSON objects")
    epoch = buildargs.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
    extra_hosts = [h for h in req.query_all("extrahosts") for h in h.split(",") if h]
    dockerfiles = req.query_all("dockerfile")  # Go's FormValue: the first one wins
    return BuildOptions(
        tags=tags, dockerfile=dockerfiles[0] if dockerfiles else "", buildargs=buildargs, labels=labels,
        target=req.query.get("target", ""), nocache=req.query_bool("nocache"),
        rm=req.query_bool("rm", True), forcerm=req.query_bool("forcerm"), quiet=req.query_bool("q"),
        network_mode=req.query.get("networkmode", "") if req.query.get("networkmode") != "default" else "",
        extra_hosts=extra_hosts, cache_from=req.query_json("cachefrom", []) or [],
        platform=req.query.get("platform", ""),
        source_date_epoch=int(epoch) if epoch and str(epoch).isdigit() else None,
        resources=build_resources(req),
    )


_BUILD_INTS = (("memory", "Memory"), ("memswap", "MemorySwap"), ("cpushares", "CpuShares"),
               ("cpuperiod", "CpuPeriod"), ("cpuquota", "CpuQuota"), ("shmsize", "ShmSize"))
_BUILD_STRS = (("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems"),
               ("cgroupparent", "CgroupParent"))


def build_resources(req: Request) -> dict[str, Any]:
    """The step containers' HostConfig resources from the query (moby's
    newImageBuildOptions and hostConfigFromOptions); each step's create checks them.

    Raises:
        InvalidArgument: a number or the ulimits JSON that does not parse (Go's texts).
    """
    out: dict[str, Any] = {}
    for key, field in _BUILD_INTS:
        text = req.query.get(key, "")
        if text:
            try:
                value = int(text)
            except ValueError:
                raise InvalidArgument(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
            if value:
                out[field] = value
    for key, field in _BUILD_STRS:
        if req.query.get(key):
            out[field] = req.query[key]
    ulimits = req.query_json("ulimits", []) or []
    if not isinstance(ulimits, list) or not all(isinstance(u, dict) for u in ulimits):
        raise InvalidArgument("ulimits must be a JSON array of {Name, Soft, Hard}")
    if ulimits:
        out["Ulimits"] = [{"Name": u.get("Name") or "", "Soft": int(u.get("Soft") or 0),
                           "Hard": int(u.get("Hard") or 0)} for u in ulimits]
    return out


def _line(msg: dict[str, Any]) -> bytes:
    return (json.dumps(msg, separators=(",", ":")) + "\r\n").encode()


def _prepare(req: Request, body: Any, opts: Any, runner: Any, emit: Any) -> Any:
    from hako.build import context as ctxmod
    from hako.build.builder import Builder

    remote = req.query.get("remote", "")
    # contexts live in the store's tmp/: a daemon killed mid-build clears them at its next start
    tmp_root = os.path.join(req.services.images.root, "tmp")
    os.makedirs(tmp_root, exist_ok=True)
    ctx = ctxmod.from_remote(remote, opts.dockerfile, tmp_root) if remote \
        else ctxmod.from_tar(body, opts.dockerfile, tmp_root)
    try:
        builder = Builder(req.services.images, runner, ctx, opts, emit, req.disconnected)
        builder.prepare()
    except BaseException:
        ctx.close()
        raise
    return builder


async def build(req: Request) -> StreamResponse:
    from hako.build.builder import build as run_build
    from hako.daemon.build_runner import ContainerRunner

    opts = build_options(req)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def emit(msg: dict[str, Any] | None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, msg)

    runner = ContainerRunner(req.services.containers, loop, req.disconnected)
    pool = pools.build_executor()  # never the default pool: see hako.daemon.pools
    body = await req.body_file()
    try:
        builder = await loop.run_in_executor(pool, _prepare, req, body, opts, runner, emit)
    finally:
        body.close()

    def work() -> None:
        try:
            run_build(builder)
        finally:
            builder.context.close()
            emit(None)

    task = loop.run_in_executor(pool, work)

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            msg = await queue.get()
            if msg is None:
                break
            yield _line(msg)
        await task

    return StreamResponse(chunks())
