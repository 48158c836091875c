"""Engine API client: version negotiation plus one small class per resource.

``APIClient(transport)`` negotiates on first use: GET /_ping, read ``API-Version``, and use
``min(server, MAX_API_VERSION)`` as the ``/v1.NN`` path prefix. Errors are raised as hako
error kinds (see :mod:`hako.client.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

from hako import errors
from hako.client import errors as cerrors
from hako.client.transport import Hijacked, Response, Transport

MAX_API_VERSION = "1.41"
MIN_API_VERSION = "1.24"


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())


def _query(params: dict[str, Any] | None) -> str:
    if not params:
        return ""
    clean = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "1" if v else "0"
        elif isinstance(v, dict) or (isinstance(v, list) and type(v) is list):
            v = json.dumps(v, separators=(",", ":"))  # compact, as the docker CLI
        clean[k] = v
    return "?" + urlencode(clean, doseq=True) if clean else ""


class APIClient:
    """Low-level client: path prefixing, JSON bodies, error mapping."""

    def __init__(self, transport: Any, version: str | None = None) -> None:
        self.transport = transport
        self._version = version
        self.containers = Containers(self)
        self.images = Images(self)
        self.exec = Exec(self)
        self.system = System(self)
        self.volumes = Volumes(self)
        self.networks = Networks(self)

    @classmethod
    def from_host(cls, host: str, version: str | None = None, tls: Any = None) -> "APIClient":
        return cls(Transport(host, tls=tls), version)

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = self.negotiate()
        return self._version

    def negotiate(self) -> str:
        """Ping the daemon and pick the API version to speak.

        Raises:
            Unavailable: the daemon cannot be reached.
        """
        resp = self.transport.request("GET", "/_ping")
        resp.read()
        server = resp.headers.get("api-version") or MAX_API_VERSION
        return min(server, MAX_API_VERSION, key=_vkey)

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        return f"/v{self.version}{path}{_query(params)}"

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
        headers: dict[str, str] | None = None, not_found: type | None = None,
        ok_statuses: tuple[int, ...] = (),
    ) -> Response:
        """Send a request and raise the error kind for a failing status.

        Args:
            body: a dict/list (sent as JSON), bytes, or an iterable of bytes (chunked).
            not_found: the error kind to use for a 404.
            ok_statuses: extra statuses (e.g. 304) not treated as errors.

        Raises:
            EngineError: a kind from :mod:`hako.client.errors` for HTTP >= 400.
        """
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        resp = self.transport.request(method, self.url(path, params), body=body, headers=hdrs)
        if resp.status >= 400 or (resp.status >= 300 and resp.status not in ok_statuses):
            raise cerrors.from_response(resp.status, resp.read(), not_found)
        return resp

    def get_json(self, path: str, params=None, not_found=None) -> Any:
        return self.request("GET", path, params, not_found=not_found).json()

    def post_json(self, path: str, params=None, body=None, not_found=None, ok=()) -> Any:
        return self.request("POST", path, params, body, not_found=not_found,
                            ok_statuses=ok).json()

    def hijack(self, path: str, params=None, body: Any = None) -> Hijacked:
        """POST with the Upgrade handshake; return the raw connection.

        Raises:
            EngineError: the daemon answered with an error instead of upgrading.
        """
        data = json.dumps(body).encode() if body is not None else None
        h = self.transport.hijack("POST", self.url(path, params), body=data)
        if h.status not in (101, 200):
            h.close()
            raise cerrors.from_response(h.status, h.buffered, errors.ContainerNotFound)
        return h


def _cid(ref: str) -> str:
    return quote(ref, safe="")


class Containers:
    """/containers endpoints."""

    def __init__(self, api: APIClient) -> None:
        self.api = api

    def list(self, all: bool = False, limit: int | None = None, size: bool = False,
             filters: dict[str, list[str]] | None = None) -> list[dict]:
        params = {"all": all, "limit": limit if limit and limit > 0 else None, "size": size,
                  "filters": filters or None}
        return self.api.get_json("/containers/json", params)

    def create(self, body: dict, name: str | None = None, platform: str | None = None) -> dict:
        params = {"name": name, "platform": platform}
        return self.api.post_json("/containers/create", params, body,
                                  not_found=errors.ImageNotFound)

    def inspect(self, ref: str, size: bool = False) -> dict:
        return self.api.get_json(f"/containers/{_cid(ref)}/json", {"size": size or None},
                                 not_found=errors.ContainerNotFound)

    def _post(self, ref: str, verb: str, params=None, ok=()) -> Response:
        resp = self.api.request("POST", f"/containers/{_cid(ref)}/{verb}", params,
                                not_found=errors.ContainerNotFound, ok_statuses=ok)
        resp.read()
        return resp

    def start(self, ref: str, detach_keys: str | None = None) -> bool:
        """Start; returns False when it was already running (304)."""
        return self._post(ref, "start", {"detachKeys": detach_keys}, ok=(304,)).status != 304

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        self._post(ref, "stop", {"t": timeout, "signal": signal}, ok=(304,))

    def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        self._post(ref, "restart", {"t": timeout, "signal": signal})

    def kill(self, ref: str, signal: str | None = None) -> None:
        self._post(ref, "kill", {"signal": signal})

    def pause(self, ref: str) -> None:
        self._post(ref, "pause")

    def unpause(self, ref: str) -> None:
        self._post(ref, "unpause")

    def rename(self, ref: str, name: str) -> None:
        self._post(ref, "rename", {"name": name})

    def resize(self, ref: str, height: int, width: int) -> None:
        self._post(ref, "resize", {"h": height, "w": width})

    def remove(self, ref: str, force: bool = False, volumes: bool = False,
               link: bool = False) -> None:
        self.api.request("DELETE", f"/containers/{_cid(ref)}",
                         {"force": force, "v": volumes, "link": link or None},
                         not_found=errors.ContainerNotFound).read()

    def wait_request(self, ref: str, condition: str | None = None) -> Response:
        """POST /wait and return the response before the body arrives (read it later)."""
        return self.api.request("POST", f"/containers/{_cid(ref)}/wait",
                                {"condition": condition}, not_found=errors.ContainerNotFound)

    def wait(self, ref: str, condition: str | None = None) -> int:
        doc = self.wait_request(ref, condition).json() or {}
        if doc.get("Error") and doc["Error"].get("Message"):
            raise errors.Internal(doc["Error"]["Message"])
        return int(doc.get("StatusCode", 0))

    def stats(self, ref: str, stream: bool = True) -> Response:
        """``GET /containers/{id}/stats``: JSON lines (one when not ``stream``)."""
        return self.api.request("GET", f"/containers/{_cid(ref)}/stats", {"stream": stream},
                                not_found=errors.ContainerNotFound)

    def update(self, ref: str, body: dict) -> dict:
        return self.api.post_json(f"/containers/{_cid(ref)}/update", None, body,
                                  not_found=errors.ContainerNotFound)

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        return self.api.post_json("/containers/prune", {"filters": filters or None})

    def top(self, ref: str, ps_args: str | None = None) -> dict:
        return self.api.get_json(f"/containers/{_cid(ref)}/top", {"ps_args": ps_args},
                                 not_found=errors.ContainerNotFound)

    def changes(self, ref: str) -> list[dict]:
        return self.api.get_json(f"/containers/{_cid(ref)}/changes",
                                 not_found=errors.ContainerNotFound) or []

    def export(self, ref: str) -> Response:
        return self.api.request("GET", f"/containers/{_cid(ref)}/export",
                                not_found=errors.ContainerNotFound)

    def stat_path(self, ref: str, path: str) -> dict:
        """The ``X-Docker-Container-Path-Stat`` of ``path`` (HEAD /containers/{id}/archive)."""
        import base64

        resp = self.api.request("HEAD", f"/containers/{_cid(ref)}/archive", {"path": path},
                                not_found=errors.NotFound)
        resp.read()
        header = resp.headers.get("x-docker-container-path-stat") or ""
        return json.loads(base64.b64decode(header)) if header else {}

    def get_archive(self, ref: str, path: str) -> Response:
        return self.api.request("GET", f"/containers/{_cid(ref)}/archive", {"path": path},
                                not_found=errors.NotFound)

    def put_archive(self, ref: str, path: str, body: Any, no_overwrite_dir_non_dir: bool = True,
                    copy_uid_gid: bool = False) -> None:
        self.api.request("PUT", f"/containers/{_cid(ref)}/archive",
                         {"path": path, "noOverwriteDirNonDir": no_overwrite_dir_non_dir or None,
                          "copyUIDGID": copy_uid_gid or None}, body,
                         headers={"Content-Type": "application/x-tar"},
                         not_found=errors.NotFound).read()

    def logs(self, ref: str, **params: Any) -> Response:
        return self.api.request("GET", f"/containers/{_cid(ref)}/logs", params,
                                not_found=errors.ContainerNotFound)

    def attach(self, ref: str, stdin: bool, stdout: bool, stderr: bool,
               detach_keys: str | None = None, logs: bool = False) -> Hijacked:
        params = {"stream": True, "stdin": stdin, "stdout": stdout, "stderr": stderr,
                  "detachKeys": detach_keys, "logs": logs or None}
        return self.api.hijack(f"/containers/{_cid(ref)}/attach", params)


class Images:
    """/images endpoints."""

    def __init__(self, api: APIClient) -> None:
        self.api = api

    def list(self, all: bool = False, digests: bool = False,
             filters: dict[str, list[str]] | None = None) -> list[dict]:
        return self.api.get_json("/images/json", {"all": all, "digests": digests or None,
                                                  "filters": filters or None})

    def inspect(self, ref: str) -> dict:
        return self.api.get_json(f"/images/{quote(ref, safe='/:@')}/json",
                                 not_found=errors.ImageNotFound)

    def history(self, ref: str) -> list[dict]:
        return self.api.get_json(f"/images/{quote(ref, safe='/:@')}/history",
                                 not_found=errors.ImageNotFound)

    def tag(self, ref: str, repo: str, tag: str | None) -> None:
        self.api.request("POST", f"/images/{quote(ref, safe='/:@')}/tag",
                         {"repo": repo, "tag": tag}, not_found=errors.ImageNotFound).read()

    def remove(self, ref: str, force: bool = False, noprune: bool = False) -> list[dict]:
        return self.api.request("DELETE", f"/images/{quote(ref, safe='/:@')}",
                                {"force": force, "noprune": noprune},
                                not_found=errors.ImageNotFound).json() or []

    def create(self, params: dict[str, Any], body: Any = None) -> Response:
        """POST /images/create (pull or import); returns the progress stream."""
        hdrs = {"Content-Type": "application/x-tar"} if body is not None else {}
        return self.api.request("POST", "/images/create", params, body, headers=hdrs,
                                not_found=errors.ImageNotFound)

    def save(self, names: list[str]) -> Response:
        """GET /images/get with repeated ``names``; returns the tar stream."""
        query = "&".join("names=" + quote(n, safe="") for n in names)
        resp = self.api.transport.request("GET", f"/v{self.api.version}/images/get?{query}")
        if resp.status >= 300:
            raise cerrors.from_response(resp.status, resp.read(), errors.ImageNotFound)
        return resp

    def load(self, body: Any, quiet: bool = False) -> Response:
        return self.api.request("POST", "/images/load", {"quiet": quiet}, body,
                                headers={"Content-Type": "application/x-tar"})

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        return self.api.post_json("/images/prune", {"filters": filters or None})


class Volumes:
    """/volumes endpoints."""

    def __init__(self, api: APIClient) -> None:
        self.api = api

    def list(self, filters: dict[str, list[str]] | None = None) -> dict:
        return self.api.get_json("/volumes", {"filters": filters or None})

    def create(self, name: str = "", driver: str = "local", options: dict | None = None,
               labels: dict | None = None) -> dict:
        return self.api.post_json("/volumes/create", body={
            "Name": name, "Driver": driver, "DriverOpts": options or {}, "Labels": labels or {}})

    def inspect(self, name: str) -> dict:
        return self.api.get_json(f"/volumes/{_cid(name)}")

    def remove(self, name: str, force: bool = False) -> None:
        self.api.request("DELETE", f"/volumes/{_cid(name)}", {"force": force or None}).read()

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        return self.api.post_json("/volumes/prune", {"filters": filters or None})


class Exec:
    """/exec endpoints."""

    def __init__(self, api: APIClient) -> None:
        self.api = api

    def create(self, container: str, body: dict) -> str:
        doc = self.api.post_json(f"/containers/{_cid(container)}/exec", body=body,
                                 not_found=errors.ContainerNotFound)
        return doc["Id"]

    def start_detached(self, exec_id: str, tty: bool) -> None:
        self.api.request("POST", f"/exec/{exec_id}/start",
                         body={"Detach": True, "Tty": tty}).read()

    def start_attached(self, exec_id: str, tty: bool) -> Hijacked:
        return self.api.hijack(f"/exec/{exec_id}/start", body={"Detach": False, "Tty": tty})

    def inspect(self, exec_id: str) -> dict:
        return self.api.get_json(f"/exec/{exec_id}/json")

    def resize(self, exec_id: str, height: int, width: int) -> None:
        self.api.request("POST", f"/exec/{exec_id}/resize", {"h": height, "w": width}).read()


class System:
    """/info, /version, /events, /system/check."""

    def __init__(self, api: APIClient) -> None:
        self.api = api

    def info(self) -> dict:
        return self.api.get_json("/info")

    def version(self) -> dict:
        return self.api.get_json("/version")

    def df(self) -> dict:
        return self.api.get_json("/system/df")

    def build_prune(self, params: dict[str, Any]) -> dict:
        return self.api.post_json("/build/prune", params)

    def check(self) -> list[str]:
        """hako's store consistency check (``GET /system/check``, not in Docker's API)."""
        return list(self.api.get_json("/system/check").get("Problems") or [])

    def events(self, since=None, until=None, filters=None) -> Response:
        return self.api.request("GET", "/events",
                                {"since": since, "until": until, "filters": filters or None})


def iter_body(resp: Response) -> Iterable[bytes]:
    return resp.iter_chunks()


class Networks:
    """/networks endpoints."""

    def __init__(self, api: APIClient) -> None:
        self.api = api

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict]:
        return self.api.get_json("/networks", {"filters": filters or None})

    def inspect(self, ref: str) -> dict:
        return self.api.get_json(f"/networks/{quote(ref, safe='')}")

    def create(self, body: dict) -> dict:
        return self.api.post_json("/networks/create", None, body)

    def remove(self, ref: str) -> None:
        self.api.request("DELETE", f"/networks/{quote(ref, safe='')}").read()

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        return self.api.post_json("/networks/prune", {"filters": filters or None})

    def connect(self, ref: str, container: str, config: dict) -> None:
        self.api.request("POST", f"/networks/{quote(ref, safe='')}/connect",
                         body={"Container": container, "EndpointConfig": config}).read()

    def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        self.api.request("POST", f"/networks/{quote(ref, safe='')}/disconnect",
                         body={"Container": container, "Force": force}).read()
