"""``POST /commit`` of the Engine API: a container's changes become a new image.

Query: ``container``, ``repo``, ``tag``, ``comment``, ``author``, ``pause`` (default true:
the container is frozen during the commit), ``changes`` (Dockerfile instructions, repeated);
body: a container Config merged with the container's like Docker. Answers 201
``{"Id": "sha256:…"}``.

Layer 6 (daemon). May import: everything below.
"""

from __future__ import annotations

from typing import Any

from hako.daemon.api.router import JSONResponse, Request, Router
from hako.errors import EngineError, InvalidArgument


def register(router: Router) -> None:
    router.add("POST", "/commit", commit_container)


def _reference(repo: str, tag: str) -> str:
    """``repo[:tag]`` validated like Docker (no digests). Returns "" without a repo."""
    from hako.oci import reference

    if not repo:
        if tag:
            raise InvalidArgument("invalid reference format: repository name must not be empty")
        return ""
    ref = reference.parse(repo)
    if ref.digest is not None:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    if tag:
        ref = ref.with_tag(tag)
    return str(ref.with_default_tag())


def _commit(images: Any, c: Any, body: dict | None, query: Any, changes: list[str],
            ids: Any = None) -> Any:
    from hako.image.commit import container_commit_config

    config = container_commit_config(body, changes, c.config)
    created_by = " ".join((c.config or {}).get("Cmd") or [])
    return images.commit_snapshot(
        c.id, parent=c.image or None, config=config, ids=ids, history={
            "created_by": created_by, "author": query.get("author", ""),
            "comment": query.get("comment", "")},
        container_config=c.config, container_id=c.id, author=query.get("author", ""),
        comment=query.get("comment", ""),
    )


async def commit_container(req: Request) -> JSONResponse:
    containers, images = req.services.containers, req.services.images
    c = containers.get(req.query.get("container", ""))
    name = _reference(req.query.get("repo", ""), req.query.get("tag", ""))
    body = await req.json(None)
    if body is not None and not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the body must be a container config object")
    async with containers.settled(c):  # no lock: pause and unpause take it
        img = await _commit_paused(req, c, body)
    if name:
        await req.run(images.tag, img.id, name)
    events = getattr(req.services, "events", None)
    if events is not None:
        events.container(c, "commit", comment=req.query.get("comment", ""), imageID=img.id,
                         imageRef=name)
    return JSONResponse({"Id": img.id}, 201)


async def _commit_paused(req: Request, c: Any, body: dict | None) -> Any:
    """Commit ``c``, paused meanwhile if it runs and the client asks (the default)."""
    containers, images = req.services.containers, req.services.images
    paused = False
    if req.query_bool("pause", True) and c.state.running and not _is_paused(c):
        try:  # like Docker, a pause that fails (the container just exited) is ignored
            await containers.pause(c.id)
            paused = True
        except EngineError:
            pass
    try:
        from hako.daemon.bundle import running_ids

        return await req.run(_commit, images, c, body, req.query, req.query_all("changes"),
                             running_ids(containers, c))
    finally:
        if paused and c.state.running:
            try:
                await containers.unpause(c.id)
            except EngineError:
                pass


def _is_paused(c: Any) -> bool:
    return getattr(c.state.status, "value", c.state.status) == "paused"
