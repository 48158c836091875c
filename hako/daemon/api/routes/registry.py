"""Registry endpoints: pull (``POST /images/create?fromImage=``), push, ``/auth``,
``/images/search`` and ``/distribution/{name}/json``.

Errors found before any progress is written (bad reference, unknown manifest, denied
access, no local image to push) answer with their status code, as dockerd's; later ones end
the JSON-lines stream with ``{"errorDetail": ...}``. Layer 6 (daemon).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hako.daemon.api.router import JSONResponse, Request, Router, StreamResponse
from hako.errors import InvalidArgument, Unauthorized


def register(router: Router) -> None:
    router.add("POST", "/images/{name:.+}/push", push_image)
    router.add("GET", "/images/search", search_images)
    router.add("POST", "/auth", auth)
    router.add("GET", "/distribution/{name:.+}/json", distribution_inspect, min_version=1.30)


# -- rendering ----------------------------------------------------------------------------------
def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.4g}{unit}"
        n /= 1000.0
    return f"{n}B"


def progress_bar(current: int, total: int) -> str:
    """Docker's ``progress`` text: ``[==>    ]  1.2MB/3.4MB``."""
    if total <= 0:
        return f"{_human(current):>8}"
    width = 50
    filled = min(width, int(width * current / total))
    bar = "=" * filled + (">" if filled < width else "") + " " * max(0, width - filled - 1)
    return f"[{bar}] {_human(current):>8}/{_human(total)}"


def progress_json(p: Any) -> dict[str, Any]:
    if p.aux is not None:
        return {"progressDetail": {}, "aux": p.aux}
    out: dict[str, Any] = {"status": p.status}
    if p.current is not None:
        out["progressDetail"] = {"current": p.current, "total": p.total}
        out["progress"] = progress_bar(p.current, p.total or 0)
    elif p.detail:
        out["progressDetail"] = {}
    if p.id:
        out["id"] = p.id
    return out


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\r\n").encode()


def _error_line(exc: BaseException) -> bytes:
    msg = str(exc) or exc.__class__.__name__
    return _line({"errorDetail": {"message": msg}, "error": msg})


def _stream(work) -> StreamResponse:
    """Run ``work(emit)`` in a thread; its progress events become JSON lines."""
    from hako.image.streaming import threaded_stream

    def write(out) -> None:
        def emit(p) -> None:
            out.write(_line(progress_json(p)))

        try:
            work(emit)
        except BrokenPipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the stream, as dockerd
            out.write(_error_line(exc))

    return StreamResponse(threaded_stream(write, "hako-registry"))


# -- credentials --------------------------------------------------------------------------------
def credentials_from(req: Request):
    """``X-Registry-Auth`` (base64url JSON AuthConfig) → Credentials or None."""
    raw = req.headers.get("x-registry-auth", "").strip()
    if not raw:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        try:
            doc = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
        except ValueError:
            return None
    if not isinstance(doc, dict):
        return None
    return _creds(doc)


def _creds(doc: dict[str, Any]):
    from hako.registry.client import Credentials

    user, password = doc.get("username") or "", doc.get("password") or ""
    if not user and doc.get("auth"):
        try:
            user, _, password = base64.b64decode(doc["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            pass
    creds = Credentials(user, password, doc.get("identitytoken") or "",
                        doc.get("registrytoken") or "")
    return creds or None


# -- handlers -----------------------------------------------------------------------------------
async def pull_image(req: Request) -> StreamResponse:
    name, tag = req.query.get("fromImage", ""), req.query.get("tag", "")
    text = name
    if tag:
        text = f"{name}@{tag}" if ":" in tag else f"{name}:{tag}"
    svc = req.services.images
    platform = check_platform(req.query.get("platform", ""))
    creds = credentials_from(req)
    from hako.oci import reference

    ref = reference.parse(text)
    if not ref.tag and ref.digest is None:  # no tag at all: every tag (pull --all-tags)
        tags = await req.run(svc.pull_tags, text, creds)

        def pull_all(emit) -> None:
            for t in tags:
                svc.pull_fetch(svc.pull_resolve(f"{text}:{t}", creds, platform), emit)

        return _stream(pull_all)
    resolved = await req.run(svc.pull_resolve, text, creds, platform)
    return _stream(lambda emit: svc.pull_fetch(resolved, emit))


_OSES = {"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos",
         "aix", "android", "dragonfly", "ios", "js", "plan9", "wasip1"}


def check_platform(text: str) -> str:
    """containerd's platforms.Parse errors for a bad ``platform`` value."""
    if not text:
        return ""
    os_name = text.split("/")[0].lower()
    if os_name not in _OSES:
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
    return text


async def push_image(req: Request) -> StreamResponse:
    svc = req.services.images
    target = await req.run(svc.push_plan, req.params["name"], req.query.get("tag", ""))
    creds = credentials_from(req)
    return _stream(lambda emit: svc.push(target, emit, creds))


async def auth(req: Request) -> JSONResponse:
    doc = await req.json({})
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid auth configuration")
    creds = _creds(doc)
    if creds is None:
        raise Unauthorized("login attempt failed: no username given")
    client = req.services.images.registry_client(doc.get("serveraddress") or "", creds)
    await req.run(client.login)
    return JSONResponse({"IdentityToken": "", "Status": "Login Succeeded"})


async def search_images(req: Request) -> JSONResponse:
    term = req.query.get("term", "")
    if not term:
        raise InvalidArgument("term is required")
    limit = req.query_int("limit", 25) or 25
    if not 1 <= limit <= 100:
        raise InvalidArgument(f"limit {limit} is outside the range of [1, 100]")
    filters = req.query_filters()
    for key in filters:
        if key not in ("is-official", "is-automated", "stars"):
            raise InvalidArgument(f"invalid filter '{key}'")
    host, _, rest = term.partition("/")
    if rest and ("." in host or ":" in host or host == "localhost"):
        server, query = host, rest
    else:
        server, query = "docker.io", term
    client = req.services.images.registry_client(server, credentials_from(req))
    doc = await req.run(client.search, query, limit)
    return JSONResponse(_filter_search(doc.get("results") or [], filters))


def _filter_search(results: list[dict[str, Any]], filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    out = []
    stars = min((int(v) for v in filters.get("stars", []) if v.isdigit()), default=0)
    for r in results:
        if filters.get("is-official") and bool(r.get("is_official")) != (filters["is-official"][0] == "true"):
            continue
        if filters.get("is-automated") and bool(r.get("is_automated")) != (filters["is-automated"][0] == "true"):
            continue
        if int(r.get("star_count") or 0) < stars:
            continue
        out.append({"name": r.get("name", ""), "description": r.get("description", ""),
                    "star_count": int(r.get("star_count") or 0),
                    "is_official": bool(r.get("is_official")),
                    "is_automated": bool(r.get("is_automated"))})
    return out


async def distribution_inspect(req: Request) -> JSONResponse:
    svc = req.services.images
    resolved = await req.run(svc.pull_resolve, req.params["name"], credentials_from(req), "")
    config = json.loads(resolved.config_bytes)
    return JSONResponse({
        "Descriptor": {"mediaType": resolved.manifest.media_type, "digest": str(resolved.digest),
                       "size": len(resolved.manifest_bytes)},
        "Platforms": [{"architecture": config.get("architecture", ""),
                       "os": config.get("os", "linux")}],
    })

