"""The /v2/ route table of ``hako registry serve`` (OCI distribution v1.1 / Docker registry v2).

Requests are served by ``http.server`` threads (``main.py``); each handler parses the path,
asks ``auth`` (if configured) for the scope it needs, and calls ``Storage``. Distribution
errors are ``RegistryError`` values rendered in one place (``_fail``). Request bodies may be
sent with ``Content-Length`` or chunked transfer encoding (Go's client does both).

Layer 4. May import: errors, support, oci, store, registry.protocol, registry.server.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hako.oci import manifest as oci_manifest, mediatypes as mt
from hako.oci.digest import Digest
from hako.errors import EngineError
from hako.registry.protocol import RegistryError, parse_content_range, parse_range
from hako.registry.server.storage import Storage, parse_digest, referrer_descriptor

log = logging.getLogger("hako.registry")

_NAME = r"(?P<name>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
ROUTES = [
    ("base", re.compile(r"^/v2/?$")),
    ("catalog", re.compile(r"^/v2/_catalog$")),
    ("tags", re.compile(rf"^/v2/{_NAME}/tags/list$")),
    ("manifest", re.compile(rf"^/v2/{_NAME}/manifests/(?P<ref>[^/]+)$")),
    ("upload_start", re.compile(rf"^/v2/{_NAME}/blobs/uploads/?$")),
    ("upload", re.compile(rf"^/v2/{_NAME}/blobs/uploads/(?P<uuid>[0-9a-f-]+)$")),
    ("blob", re.compile(rf"^/v2/{_NAME}/blobs/(?P<digest>[^/]+)$")),
    ("referrers", re.compile(rf"^/v2/{_NAME}/referrers/(?P<digest>[^/]+)$")),
    ("search", re.compile(r"^/v1/search$")),
    ("autobuild_hook", re.compile(rf"^/autobuild/hooks/{_NAME}$")),
    ("autobuild_builds", re.compile(r"^/autobuild/builds/?$")),
    ("autobuild_build", re.compile(r"^/autobuild/builds/(?P<build>[0-9a-f]{32})(?P<log>/log)?$")),
    ("token", re.compile(r"^/token$")),
]
MANIFEST_TYPES = mt.MANIFESTS | mt.INDEXES
MAX_MANIFEST = 4 << 20
CHUNK = 1 << 20


class Handler(BaseHTTPRequestHandler):
    """One connection; ``server.storage``, ``server.auth`` and ``server.read_only`` are set by
    ``main.py``."""

    protocol_version = "HTTP/1.1"
    server_version = "hako-registry"
    # TCP_NODELAY: with Nagle, a body written after its headers waits for the client's
    # delayed ACK (40 ms on Linux) on every kept-alive request
    disable_nagle_algorithm = True
    storage: Storage

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    # -- plumbing ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self._body_read = False
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self.storage = self.server.storage  # type: ignore[attr-defined]
        try:
            for kind, regex in ROUTES:
                m = regex.match(url.path)
                if m:
                    handler = getattr(self, f"{kind}_{self.command.lower()}", None)
                    if handler is None:
                        raise RegistryError("UNSUPPORTED")
                    self._authorize(kind, m.groupdict().get("name") or "")
                    handler(**m.groupdict())
                    return
            raise RegistryError("NAME_UNKNOWN", "page not found", status=404)
        except RegistryError as exc:
            self._fail(exc)
        except EngineError as exc:
            self._fail(RegistryError("UNKNOWN", str(exc)))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - answered as distribution's UNKNOWN
            log.exception("%s %s failed", self.command, self.path)
            self.close_connection = True
            try:
                self._fail(RegistryError("UNKNOWN", str(exc)))
            except OSError:
                pass

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _dispatch

    def _authorize(self, kind: str, name: str) -> None:
        write = self.command in ("PUT", "POST", "PATCH", "DELETE") and kind != "autobuild_hook"
        if write and getattr(self.server, "read_only", False):
            raise RegistryError("UNSUPPORTED", "registry is in read-only mode")
        auth = getattr(self.server, "auth", None)
        if auth is None:
            return
        if kind in ("token", "autobuild_hook"):  # the hook is guarded by its own secret
            return
        actions: tuple[str, ...] = ()
        if kind in ("catalog", "autobuild_builds", "autobuild_build"):  # filtered by _visible
            scope_type, scope_name, actions = "registry", "catalog", ("*",)
        elif name:
            scope_type, scope_name = "repository", name
            actions = ("delete",) if self.command == "DELETE" else (("pull", "push") if write else ("pull",))
        else:
            scope_type, scope_name = "", ""
        extra = auth.check(self.headers, scope_type, scope_name, actions, self._mount_source())
        self.auth_user = extra

    def _mount_source(self) -> str:
        return self.query.get("from", "") if self.command == "POST" else ""

    def _fail(self, exc: RegistryError) -> None:
        body = b"" if self.command == "HEAD" else exc.body()
        self._drain()
        headers = [("Content-Type", "application/json")]
        challenge = getattr(exc, "challenge", "")
        if challenge:
            headers.append(("WWW-Authenticate", challenge))
        self._send(exc.status, headers, body, length=len(exc.body()))

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes = b"",
              length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self._headers_buffer.append(b"\r\n")
        if body and self.command != "HEAD":
            self._headers_buffer.append(body)  # one write: headers and a small body together
        self.flush_headers()

    def _json(self, status: int, obj: Any, headers: list[tuple[str, str]] = ()) -> None:
        self._send(status, [("Content-Type", "application/json"), *headers],
                   json.dumps(obj).encode())

    def _body(self) -> Iterator[bytes]:
        """The request body in chunks (Content-Length or chunked)."""
        self._body_read = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    data = self.rfile.read(min(left, CHUNK))
                    if not data:
                        raise ConnectionResetError("client went away mid-chunk")
                    left -= len(data)
                    yield data
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                data = self.rfile.read(min(left, CHUNK))
                if not data:
                    raise ConnectionResetError("client went away mid-body")
                left -= len(data)
                yield data

    def _drain(self) -> None:
        """Read an unread request body so the connection stays usable (or close it)."""
        if getattr(self, "_body_read", False):
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or int(
                self.headers.get("Content-Length") or 0) > CHUNK:
            self.close_connection = True
            return
        for _ in self._body():
            pass

    # -- base, catalog, search ------------------------------------------------------------------
    def base_get(self) -> None:
        self._json(200, {})

    def _page(self, items: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        last = self.query.get("last", "")
        if last:
            items = [i for i in items if i > last]
        n = self.query.get("n", "")
        headers: list[tuple[str, str]] = []
        if n.isdigit():
            limit = int(n)
            if len(items) > limit:
                items = items[:limit]
                path = urlsplit(self.path).path
                nxt = items[-1] if items else ""
                headers.append(("Link", f'<{path}?n={limit}&last={nxt}>; rel="next"'))
        return items, headers

    def _visible(self, repos: list[str]) -> list[str]:
        """The repositories the caller may pull, when an ACL says who may."""
        acl = getattr(getattr(self.server, "auth", None), "acl", None)
        if acl is None:
            return repos
        user = getattr(self, "auth_user", "")
        return [r for r in repos if acl.permits(user, r, ("pull",))]

    def catalog_get(self) -> None:
        repos, headers = self._page(self._visible(self.storage.catalog()))
        self._json(200, {"repositories": repos}, headers)

    def tags_get(self, name: str) -> None:
        tags, headers = self._page(self.storage.tags(name))
        self._json(200, {"name": name, "tags": tags}, headers)

    def search_get(self) -> None:
        term = self.query.get("q", "")
        limit = int(self.query.get("n") or 25) if (self.query.get("n") or "25").isdigit() else 25
        found = [r for r in self._visible(self.storage.catalog()) if term in r][: max(1, min(limit, 100))]
        results = [{"name": r, "description": "", "star_count": 0, "is_official": False,
                    "is_automated": False} for r in found]
        self._json(200, {"num_results": len(results), "query": term, "results": results})

    def token_get(self) -> None:
        auth = getattr(self.server, "auth", None)
        if auth is None or not hasattr(auth, "issue"):
            raise RegistryError("UNSUPPORTED", "this registry issues no tokens")
        self._json(200, auth.issue(self.headers, parse_qs(urlsplit(self.path).query)))

    # -- automated builds (autobuild.py) ---------------------------------------------------
    def _autobuilder(self):
        builder = getattr(self.server, "autobuilder", None)
        if builder is None:
            raise RegistryError("UNSUPPORTED", "this registry runs no automated builds", status=404)
        return builder

    def autobuild_hook_post(self, name: str) -> None:
        self._drain()
        if not self._autobuilder().trigger(name, self.query.get("secret", "")):
            raise RegistryError("DENIED", "no automated build for this repository, or a wrong secret",
                                detail={"name": name})
        self._json(202, {"repository": name})

    def autobuild_builds_get(self) -> None:
        from dataclasses import asdict

        visible = set(self._visible(sorted({b.repository for b in self._autobuilder().list()})))
        self._json(200, [asdict(b) for b in self._autobuilder().list() if b.repository in visible])

    def autobuild_build_get(self, build: str, log: str | None = None) -> None:
        from dataclasses import asdict

        record = self._autobuilder().get(build)
        if record is None or not self._visible([record.repository]):
            raise RegistryError("UNKNOWN", "no such build", detail={"build": build}, status=404)
        if log:
            self._send(200, [("Content-Type", "text/plain; charset=utf-8")],
                       (self._autobuilder().log_text(build) or "").encode())
            return
        self._json(200, asdict(record))

    # -- blobs -------------------------------------------------------------------------------
    def blob_head(self, name: str, digest: str) -> None:
        d = parse_digest(digest)
        size = self.storage.blob_size(name, d)
        self._send(200, [("Content-Type", "application/octet-stream"),
                         ("Docker-Content-Digest", str(d)), ("Accept-Ranges", "bytes")], length=size)

    def blob_get(self, name: str, digest: str) -> None:
        d = parse_digest(digest)
        f, size = self.storage.open_blob(name, d)
        with f:
            start, end, status = 0, size - 1, 200
            headers = [("Content-Type", "application/octet-stream"),
                       ("Docker-Content-Digest", str(d)), ("Accept-Ranges", "bytes")]
            if self.headers.get("Range"):
                span = parse_range(self.headers["Range"], size)
                if span is None:
                    raise RegistryError("RANGE_INVALID", status=416)
                start, end, status = span[0], span[1], 206
                headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            self._send(status, headers, length=end - start + 1)
            self.wfile.flush()
            self.connection.sendfile(f, start, end - start + 1)

    def blob_delete(self, name: str, digest: str) -> None:
        self.storage.unlink_blob(name, parse_digest(digest))
        self._send(202, [])

    # -- uploads -----------------------------------------------------------------------------
    def _upload_headers(self, name: str, upload_id: str, offset: int) -> list[tuple[str, str]]:
        return [("Location", f"/v2/{name}/blobs/uploads/{upload_id}"),
                ("Docker-Upload-UUID", upload_id),
                ("Range", f"0-{max(offset - 1, 0)}")]

    def upload_start_post(self, name: str) -> None:
        mount, source = self.query.get("mount", ""), self.query.get("from", "")
        if mount and source:
            d = parse_digest(mount)
            if self.storage.mount(name, source, d):
                self._drain()
                self._send(201, [("Location", f"/v2/{name}/blobs/{d}"),
                                 ("Docker-Content-Digest", str(d))])
                return
        upload_id = self.storage.start_upload(name)
        digest = self.query.get("digest", "")
        if digest:  # monolithic POST
            self._finish(name, upload_id, parse_digest(digest))
            return
        self._drain()
        self._send(202, self._upload_headers(name, upload_id, 0))

    def upload_get(self, name: str, uuid: str) -> None:
        offset = self.storage.upload_offset(name, uuid)
        self._send(204, self._upload_headers(name, uuid, offset))

    def upload_patch(self, name: str, uuid: str) -> None:
        offset = self.storage.upload_offset(name, uuid)
        span = self.headers.get("Content-Range", "")
        if span:
            rng = parse_content_range(span)
            if rng is None or rng[0] != offset:
                raise RegistryError("RANGE_INVALID", "out of order chunk", status=416)
        with self.storage.open_upload(name, uuid) as writer:
            offset = self.storage.append(writer, self._body())
        self._send(202, self._upload_headers(name, uuid, offset))

    def upload_put(self, name: str, uuid: str) -> None:
        d = parse_digest(self.query.get("digest", ""))
        self.storage.upload_offset(name, uuid)
        self._finish(name, uuid, d)

    def _finish(self, name: str, upload_id: str, d: Digest) -> None:
        with self.storage.open_upload(name, upload_id) as writer:
            self.storage.append(writer, self._body())
            self.storage.finish_upload(name, upload_id, writer, d)
        self._send(201, [("Location", f"/v2/{name}/blobs/{d}"), ("Docker-Content-Digest", str(d))])

    def upload_delete(self, name: str, uuid: str) -> None:
        self.storage.cancel_upload(name, uuid)
        self._send(204, [])

    # -- manifests ---------------------------------------------------------------------------
    def manifest_get(self, name: str, ref: str) -> None:
        data, media_type, d = self.storage.get_manifest(name, ref)
        self._send(200, [("Content-Type", media_type), ("Docker-Content-Digest", str(d)),
                         ("Etag", f'"{d}"')], data)

    manifest_head = manifest_get

    def manifest_put(self, name: str, ref: str) -> None:
        data = b"".join(self._body())
        if len(data) > MAX_MANIFEST:
            raise RegistryError("MANIFEST_INVALID", "manifest too big")
        media_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            doc = oci_manifest.parse(data, media_type or None)
            declared = json.loads(data).get("mediaType") or ""
        except EngineError as exc:
            raise RegistryError("MANIFEST_INVALID", str(exc)) from None
        media_type = declared or media_type or doc.media_type
        if media_type not in MANIFEST_TYPES:
            raise RegistryError("MANIFEST_INVALID", f"unsupported manifest media type {media_type}")
        self._check_references(name, doc)
        tag = ""
        if ":" in ref:
            if Digest.from_bytes(data) != parse_digest(ref):
                raise RegistryError("DIGEST_INVALID", detail={"digest": ref})
        else:
            tag = ref
        d = self.storage.put_manifest(name, data, media_type, tag)
        headers = [("Location", f"/v2/{name}/manifests/{d}"), ("Docker-Content-Digest", str(d))]
        subject, _ = referrer_descriptor(data, media_type, d)
        if subject is not None:  # the registry keeps the referrers index itself (spec v1.1)
            headers.append(("OCI-Subject", str(subject)))
        self._send(201, headers)

    def referrers_get(self, name: str, digest: str) -> None:
        artifact_type = self.query.get("artifactType", "")
        found = self.storage.referrers(name, parse_digest(digest), artifact_type)
        headers = [("OCI-Filters-Applied", "artifactType")] if artifact_type else []
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": found}
        self._send(200, [("Content-Type", mt.OCI_INDEX), *headers], json.dumps(index).encode())

    def _check_references(self, name: str, doc: Any) -> None:
        if isinstance(doc, oci_manifest.Index):
            for desc in doc.manifests:
                try:
                    self.storage.resolve(name, str(desc.digest))
                except RegistryError:
                    raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail={"digest": str(desc.digest)}) from None
            return
        for desc in (doc.config, *doc.layers):
            if desc.urls:
                continue
            try:
                size = self.storage.blob_size(name, desc.digest)
            except RegistryError:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail={"digest": str(desc.digest)}) from None
            if desc.size >= 0 and size != desc.size:
                raise RegistryError("SIZE_INVALID", detail={"digest": str(desc.digest)})

    def manifest_delete(self, name: str, ref: str) -> None:
        self.storage.delete_manifest(name, ref)
        self._send(202, [])
