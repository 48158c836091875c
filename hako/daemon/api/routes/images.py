"""/images endpoints of the Engine API (v1.41): parse → ImageService → render.

JSON shaping lives in the ``*_json`` functions so it is testable without a server.
Layer 6 (daemon). May import: everything below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hako.daemon.api.router import EmptyResponse, JSONResponse, Request, Router, StreamResponse
from hako.errors import InvalidArgument

ZERO_TIME = "0001-01-01T00:00:00Z"


def register(router: Router) -> None:
    """Add the image routes to ``router`` (fixed paths before ``{name:.+}`` patterns)."""
    router.add("GET", "/images/json", list_images)
    router.add("GET", "/images/get", save_images)
    router.add("POST", "/images/create", create_image)
    router.add("POST", "/images/load", load_images)
    router.add("POST", "/images/prune", prune_images, min_version=1.25)
    router.add("GET", "/images/{name:.+}/json", inspect_image)
    router.add("GET", "/images/{name:.+}/history", image_history)
    router.add("GET", "/images/{name:.+}/get", save_image)
    router.add("POST", "/images/{name:.+}/tag", tag_image)
    router.add("DELETE", "/images/{name:.+}", remove_image)
    from hako.daemon.api.routes import commit

    commit.register(router)


# -- shaping -------------------------------------------------------------------------------
def _full_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    from hako.oci.imageconfig import default_container_config

    out = default_container_config()
    out.update(cfg or {})
    return out


def summary_json(img: Any) -> dict[str, Any]:
    """One ``ImageSummary`` of ``GET /images/json``."""
    from hako.image.model import created_unix

    tags, digests = list(img.repo_tags), list(img.repo_digests)
    if not tags and not digests:
        tags, digests = ["<none>:<none>"], ["<none>@<none>"]
    return {
        "Containers": -1, "Created": created_unix(img.created), "Id": img.id,
        "Labels": img.config.get("Labels") or None, "ParentId": img.parent,
        "RepoDigests": digests, "RepoTags": tags, "SharedSize": -1,
        "Size": img.size, "VirtualSize": img.virtual_size,
    }


def inspect_json(img: Any, graph: dict[str, Any] | None = None) -> dict[str, Any]:
    """Docker's ``ImageInspect`` object."""
    out: dict[str, Any] = {
        "Id": img.id, "RepoTags": list(img.repo_tags), "RepoDigests": list(img.repo_digests),
        "Parent": img.parent, "Comment": img.comment, "Created": img.created,
        "Container": img.container, "ContainerConfig": _full_config(img.container_config),
        "DockerVersion": img.docker_version, "Author": img.author,
        "Config": _full_config(img.config), "Architecture": img.architecture,
    }
    if img.variant:
        out["Variant"] = img.variant
    out.update({
        "Os": img.os, "Size": img.size, "VirtualSize": img.virtual_size,
        "GraphDriver": graph or {"Data": None, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": list(img.layers)},
        "Metadata": {"LastTagTime": img.last_tag_time or ZERO_TIME},
    })
    return out


def status_line(**fields: Any) -> bytes:
    """One JSON-lines progress message, e.g. ``{"status": "..."}``."""
    return (json.dumps(fields, separators=(",", ":")) + "\r\n").encode()


def load_lines(messages: list[str]) -> Iterator[bytes]:
    for msg in messages:
        yield status_line(stream=msg + "\n")


# -- handlers ------------------------------------------------------------------------------
async def list_images(req: Request) -> JSONResponse:
    images = await req.run(req.services.images.list, req.query_bool("all"), req.query_filters())
    return JSONResponse([summary_json(i) for i in images])


async def inspect_image(req: Request) -> JSONResponse:
    from hako.image.service import graph_driver

    svc = req.services.images
    img = await req.run(svc.get, req.params["name"])
    graph = await req.run(graph_driver, svc, img)
    return JSONResponse(inspect_json(img, graph))


async def image_history(req: Request) -> JSONResponse:
    return JSONResponse(await req.run(req.services.images.history, req.params["name"]))


async def tag_image(req: Request) -> EmptyResponse:
    repo = req.query.get("repo", "")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    await req.run(req.services.images.tag, req.params["name"], repo, req.query.get("tag", ""))
    return EmptyResponse(201)


def _users(req: Request):
    containers = getattr(req.services, "containers", None)
    if containers is None:
        return None
    running = getattr(containers, "running_image_users", None)

    def using(image_id: str) -> list:
        live = set(running(image_id)) if running else set()
        return [(cid, cid in live) for cid in containers.images_in_use(image_id)]

    return using


async def remove_image(req: Request) -> JSONResponse:
    records = await req.run(
        req.services.images.remove, req.params["name"], req.query_bool("force"),
        req.query_bool("noprune"), _users(req),
    )
    return JSONResponse(records)


async def create_image(req: Request) -> StreamResponse:
    src = req.query.get("fromSrc", "")
    if not src:
        if req.query.get("fromImage"):
            from hako.daemon.api.routes.registry import pull_image

            return await pull_image(req)
        raise InvalidArgument("fromSrc or fromImage is required")
    repo, tag = req.query.get("repo", ""), req.query.get("tag", "")
    repo_tag = repo
    if repo and tag:
        repo_tag = f"{repo}:{tag}"
    changes = req.query_all("changes")
    svc = req.services.images
    if src == "-":
        body = await req.body_file()
    else:
        body = await req.run(_download, src)
    try:
        img = await req.run(svc.import_tar, body, repo_tag, changes, req.query.get("message", ""),
                            req.query.get("platform", ""), src)
    finally:
        body.close()
    return StreamResponse(iter([status_line(status=img.id)]))


def _download(url: str):
    """Fetch a rootfs tarball from an http(s) URL into a temporary file."""
    import tempfile

    from hako.support import fetch

    if "://" not in url:
        url = "http://" + url
    tmp = tempfile.TemporaryFile()
    try:
        fetch.download(url, tmp, what="import")
    except OSError as exc:
        tmp.close()
        raise InvalidArgument(f"Get \"{url}\": {exc}") from exc
    except BaseException:
        tmp.close()
        raise
    tmp.seek(0)
    return tmp


async def load_images(req: Request) -> StreamResponse:
    from hako.errors import EngineError

    body = await req.body_file()
    # Docker 20.10 (API 1.41) answers 200 and reports a failed load inside the stream, with or
    # without quiet; docker-py's ImageLoadError relies on it.
    try:
        messages = await req.run(req.services.images.load, body, req.query_bool("quiet"))
    except EngineError as exc:
        return StreamResponse(iter([json.dumps({"errorDetail": {"message": str(exc)},
                                                "error": str(exc)}).encode() + b"\n"]))
    finally:
        body.close()
    return StreamResponse(load_lines(messages))


async def save_image(req: Request) -> StreamResponse:
    chunks = await req.run(req.services.images.save, [req.params["name"]])
    return StreamResponse(chunks, content_type="application/x-tar")


async def save_images(req: Request) -> StreamResponse:
    chunks = await req.run(req.services.images.save, req.query_all("names"))
    return StreamResponse(chunks, content_type="application/x-tar")


async def prune_images(req: Request) -> JSONResponse:
    filters = req.query_filters()
    dangling = [v.lower() for v in filters.get("dangling", ["true"])]
    only_dangling = not dangling or dangling[0] in ("true", "1")
    report = await req.run(req.services.images.prune, only_dangling, filters, _users(req))
    return JSONResponse(report)
