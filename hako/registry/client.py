"""RegistryClient: the OCI distribution protocol (Docker registry v2), client side.

One client talks to one registry host for one set of credentials::

    c = RegistryClient("127.0.0.1:5000", insecure=True, credentials=("u", "p"))
    data, media_type, digest = c.get_manifest("library/busybox", "latest")
    c.fetch_blob("library/busybox", desc, writer)          # Range-resumed, retried
    c.upload_blob("x/y", desc, fileobj)      # chunked PATCHes, resumed from the Range
    c.put_manifest("x/y", "latest", data, mt)

Scheme: ``https`` (verified, with ``/etc/docker/certs.d/<host>/ca.crt`` or
``/etc/hako/certs.d/<host>/ca.crt`` when present); an insecure registry is tried with
unverified TLS and then plain HTTP, as dockerd does. Auth: a 401's ``WWW-Authenticate``
challenge is answered with basic credentials or a bearer token from the realm (anonymous
when there are no credentials), cached per scope. Blob GETs follow redirects (without the
registry's Authorization) and resume with ``Range`` after a dropped connection.

HTTP goes through an injectable ``transport`` (``HTTPTransport`` by default).
Layer 3. May import: errors, support, oci, registry.protocol.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from hako.errors import EngineError, InvalidArgument, NotFound, Unauthorized, Unavailable
from hako.oci import mediatypes as mt
from hako.oci.descriptor import Descriptor
from hako.oci.digest import Digest, Digester
from hako.registry import protocol

log = logging.getLogger("hako.registry.client")

MANIFEST_ACCEPT = ", ".join([mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST,
                             mt.OCI_INDEX])
CHUNK = 1 << 20
UPLOAD_CHUNK = 32 << 20  # bytes per PATCH of a chunked upload: what a failure costs to resend
RETRIES = 3
USER_AGENT = "hako/0.1 (registry client)"
CERT_DIRS = ("/etc/docker/certs.d", "/etc/hako/certs.d")


class Response(Protocol):
    status: int

    def getheader(self, name: str, default: str | None = None) -> str | None: ...
    def read(self, n: int = -1) -> bytes: ...
    def close(self) -> None: ...


class Transport(Protocol):
    def request(self, method: str, url: str, headers: dict[str, str],
                body: bytes | BinaryIO | None = None, verify: bool = True) -> Response: ...


class HTTPTransport:
    """http.client with one kept-alive connection per (thread, scheme, host)."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def _conn(self, scheme: str, netloc: str, verify: bool) -> http.client.HTTPConnection:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        key = (scheme, netloc, verify)
        conn = pool.get(key)
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout,
                                                   context=_tls_context(netloc, verify),
                                                   blocksize=CHUNK)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout, blocksize=CHUNK)
            pool[key] = conn
        return conn

    def request(self, method: str, url: str, headers: dict[str, str],
                body: bytes | BinaryIO | None = None, verify: bool = True) -> Response:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (0, 1):
            conn = self._conn(parts.scheme, parts.netloc, verify)
            try:
                conn.request(method, path, body=body, headers=headers)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()  # a kept-alive connection the server closed: once more, fresh
                if attempt or (body is not None and not isinstance(body, bytes)):
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")


def _tls_context(netloc: str, verify: bool) -> ssl.SSLContext:
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context()
    for base in CERT_DIRS:
        d = os.path.join(base, netloc)
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                if name.endswith(".crt"):
                    ctx.load_verify_locations(os.path.join(d, name))
            cert, key = os.path.join(d, "client.cert"), os.path.join(d, "client.key")
            if os.path.exists(cert) and os.path.exists(key):
                ctx.load_cert_chain(cert, key)
    return ctx


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    def __bool__(self) -> bool:
        return bool(self.username or self.identity_token or self.registry_token)


class RegistryClient:
    """See the module docstring. Thread-safe: layer transfers share one client."""

    def __init__(self, host: str, *, insecure: bool = False, credentials: Credentials | None = None,
                 transport: Transport | None = None, base_url: str = "",
                 sleep: Callable[[float], None] = time.sleep, upload_chunk: int = UPLOAD_CHUNK) -> None:
        self.host = host
        self.upload_chunk = max(1, upload_chunk)
        self.insecure = insecure
        self.credentials = credentials or Credentials()
        self.transport = transport or HTTPTransport()
        self._base = base_url.rstrip("/")
        self._verify = not insecure
        self._tokens: dict[str, str] = {}
        self._challenge: protocol.Challenge | None = None
        self._lock = threading.Lock()
        self._sleep = sleep

    # -- endpoint and auth -------------------------------------------------------------------
    @property
    def base(self) -> str:
        if not self._base:
            self.ping()
        return self._base

    def ping(self) -> int:
        """``GET /v2/``; picks the scheme. Returns the status (200 or 401).

        Raises:
            Unavailable: the registry cannot be reached.
        """
        if self._base:
            resp = self._raw("GET", self._base + "/v2/", {})
            return self._ping_result(resp)
        schemes = [("https", not self.insecure)] + ([("http", True)] if self.insecure else [])
        last: BaseException | None = None
        for scheme, verify in schemes:
            url = f"{scheme}://{self.host}/v2/"
            try:
                resp = self.transport.request("GET", url, self._headers({}), None, verify)
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                continue
            self._base, self._verify = f"{scheme}://{self.host}", verify
            return self._ping_result(resp)
        raise Unavailable(f'Get "{schemes[-1][0]}://{self.host}/v2/": {_describe(last)}')

    def _ping_result(self, resp: Response) -> int:
        resp.read()
        if resp.status == 401:
            self._challenge = _pick(resp.getheader("WWW-Authenticate") or "")
        elif resp.status not in (200,):
            raise Unavailable(f"registry {self.host}: GET /v2/ answered {resp.status}")
        return resp.status

    def login(self) -> None:
        """Check the credentials against the registry (``docker login``).

        Raises:
            Unauthorized: ``login attempt to <url>/v2/ failed with status: 401 Unauthorized``.
        """
        status = self.ping()
        if status == 200:
            return
        ch = self._challenge
        url = f"{self._base}/v2/"
        if ch is not None and ch.scheme == "bearer":
            self._token(ch, "")  # the realm judges the credentials
            resp = self._raw("GET", url, {"Authorization": f"Bearer {self._tokens['']}"})
        else:
            resp = self._raw("GET", url, self._auth_header(""))
        resp.read()
        if resp.status != 200:
            raise Unauthorized(f"login attempt to {url} failed with status: {resp.status} "
                               f"{http.client.responses.get(resp.status, '')}")

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, **extra}

    def _auth_header(self, scope: str) -> dict[str, str]:
        ch = self._challenge
        if ch is None:
            return {}
        if ch.scheme == "basic":
            if not self.credentials.username:
                raise Unauthorized("no basic auth credentials")
            return {"Authorization": protocol.basic_header(self.credentials.username,
                                                           self.credentials.password)}
        if ch.scheme == "bearer":
            if self.credentials.registry_token:
                return {"Authorization": f"Bearer {self.credentials.registry_token}"}
            with self._lock:
                token = self._tokens.get(scope)
            if token is None:
                token = self._token(ch, scope)
            return {"Authorization": f"Bearer {token}"}
        return {}

    def _token(self, ch: protocol.Challenge, scope: str) -> str:
        realm = ch.params.get("realm", "")
        if not realm:
            raise Unauthorized("bearer challenge without a realm")
        query = {"service": ch.params.get("service", "")}
        if scope:
            query["scope"] = scope
        headers = {}
        if self.credentials.username:
            query["account"] = self.credentials.username
            headers["Authorization"] = protocol.basic_header(self.credentials.username,
                                                             self.credentials.password)
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        resp = self._raw("GET", url, headers)
        body = resp.read()
        if resp.status in (401, 403):
            raise Unauthorized(f"login attempt to {self._base}/v2/ failed with status: "
                               f"{resp.status} {http.client.responses.get(resp.status, '')}")
        if resp.status != 200:
            raise Unavailable(f"token endpoint {realm} answered {resp.status}")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise Unavailable(f"token endpoint {realm} gave no token")
        with self._lock:
            self._tokens[scope] = token
        return token

    def _raw(self, method: str, url: str, headers: dict[str, str],
             body: bytes | BinaryIO | None = None) -> Response:
        try:
            return self.transport.request(method, url, self._headers(headers), body, self._verify)
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f'{method.capitalize()} "{url}": {_describe(exc)}') from exc

    def _request(self, method: str, path: str, scope: str, headers: dict[str, str] | None = None,
                 body: bytes | BinaryIO | None = None, url: str = "") -> Response:
        """A request with auth; a 401 is answered once (new challenge or token)."""
        url = url or self.base + path
        headers = dict(headers or {})
        resp = self._raw(method, url, {**headers, **self._auth_header(scope)}, body)
        if resp.status == 401 and (body is None or isinstance(body, bytes) or hasattr(body, "seek")):
            challenge = _pick(resp.getheader("WWW-Authenticate") or "")
            resp.read()
            if challenge is None:
                raise Unauthorized("unauthorized: authentication required")
            self._challenge = challenge
            with self._lock:
                self._tokens.pop(scope, None)
            if hasattr(body, "seek"):
                body.seek(0)  # type: ignore[union-attr]
            resp = self._raw(method, url, {**headers, **self._auth_header(scope)}, body)
        return resp

    # -- manifests ---------------------------------------------------------------------------
    def get_manifest(self, repo: str, ref: str, head: bool = False) -> tuple[bytes, str, Digest | None]:
        """Fetch a manifest or index by tag or digest; a digest reference is verified.

        Returns:
            (bytes, media type, digest from ``Docker-Content-Digest`` or of the bytes).

        Raises:
            NotFound (``manifest unknown``), Unauthorized, InvalidArgument (digest mismatch).
        """
        resp = self._request("HEAD" if head else "GET", f"/v2/{repo}/manifests/{ref}",
                             _scope(repo, "pull"), {"Accept": MANIFEST_ACCEPT})
        data = resp.read() if not head else (resp.read() or b"")
        if resp.status != 200:
            raise self._error(resp.status, data, f"{repo}:{ref}")
        media_type = (resp.getheader("Content-Type") or "").split(";")[0].strip()
        header = resp.getheader("Docker-Content-Digest") or ""
        if head:
            return b"", media_type, Digest.parse(header) if header else None
        actual = Digest.from_bytes(data)
        if ":" in ref and Digest.parse(ref) != actual:
            raise InvalidArgument(f"manifest verification failed for digest {ref}")
        if not media_type or media_type in ("application/json", "text/plain"):
            try:
                media_type = json.loads(data).get("mediaType") or media_type
            except (ValueError, AttributeError):
                pass
        return data, media_type, actual

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> Digest:
        resp = self._request("PUT", f"/v2/{repo}/manifests/{ref}", _scope(repo, "pull,push"),
                             {"Content-Type": media_type}, data)
        body = resp.read()
        if resp.status not in (200, 201, 202):
            raise self._error(resp.status, body, f"{repo}:{ref}")
        return Digest.from_bytes(data)

    def tags(self, repo: str) -> list[str]:
        resp = self._request("GET", f"/v2/{repo}/tags/list", _scope(repo, "pull"))
        data = resp.read()
        if resp.status != 200:
            raise self._error(resp.status, data, repo)
        return list(json.loads(data).get("tags") or [])

    def search(self, term: str, limit: int = 25) -> dict[str, Any]:
        """The v1 search API (``GET /v1/search?q=&n=``)."""
        resp = self._request("GET", "/v1/search?" + urlencode({"q": term, "n": limit}), "")
        data = resp.read()
        if resp.status != 200:
            raise self._error(resp.status, data, term)
        return json.loads(data)

    # -- blobs -------------------------------------------------------------------------------
    def blob_size(self, repo: str, digest: Digest, push: bool = False) -> int | None:
        """Size of a blob the repository holds, None when it does not."""
        resp = self._request("HEAD", f"/v2/{repo}/blobs/{digest}",
                             _scope(repo, "pull,push" if push else "pull"))
        resp.read()
        if resp.status == 200:
            return int(resp.getheader("Content-Length") or -1)
        if resp.status == 404:
            return None
        raise self._error(resp.status, b"", f"{repo}@{digest}")

    def fetch_blob(self, repo: str, desc: Descriptor, writer: Any,
                   progress: Callable[[int], None] | None = None) -> None:
        """Download ``desc`` into a content writer (which verifies digest and size on commit),
        resuming with ``Range`` from ``writer.offset`` after a dropped connection.

        Raises:
            InvalidArgument: the content does not match the descriptor (size exceeded).
            Unavailable: the connection kept failing.
        """
        failures = attempts = 0
        while True:
            attempts += 1
            offset = writer.offset
            if desc.size >= 0 and offset >= desc.size:
                if offset > desc.size:
                    raise InvalidArgument(f"blob {desc.digest}: more data than the expected "
                                          f"{desc.size} bytes")
                return
            try:
                self._fetch_from(repo, desc, writer, offset, progress)
                if desc.size < 0 or writer.offset >= desc.size:
                    if desc.size >= 0 and writer.offset > desc.size:
                        raise InvalidArgument(f"blob {desc.digest}: more data than the "
                                              f"expected {desc.size} bytes")
                    return
                raise _Short(f"blob {desc.digest}: connection closed after {writer.offset} "
                             f"of {desc.size} bytes")
            except (_Short, Unavailable, OSError, http.client.HTTPException) as exc:
                failures = failures + 1 if writer.offset == offset else 1
                if failures >= RETRIES or attempts >= 4 * RETRIES:
                    raise Unavailable(f"error pulling blob {desc.digest}: {exc}") from exc
                log.info("blob %s: %s; retrying from %d", desc.digest, exc, writer.offset)
                self._sleep(0.2 * failures)

    def _fetch_from(self, repo: str, desc: Descriptor, writer: Any, offset: int,
                    progress: Callable[[int], None] | None) -> None:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self._request("GET", f"/v2/{repo}/blobs/{desc.digest}", _scope(repo, "pull"), headers)
        for _ in range(5):
            if resp.status not in (301, 302, 303, 307, 308):
                break
            location = urljoin(resp.geturl() if hasattr(resp, "geturl") and resp.geturl() else
                               self.base + f"/v2/{repo}/blobs/{desc.digest}",
                               resp.getheader("Location") or "")
            resp.read()
            resp = self._raw("GET", location, headers)  # storage backends: no registry auth
        if resp.status not in (200, 206):
            body = resp.read()
            raise self._error(resp.status, body, f"{repo}@{desc.digest}")
        if offset and resp.status == 200:  # the server ignored Range: start over
            raise InvalidArgument("registry ignored a Range request; cannot resume")
        try:
            while True:
                data = resp.read(CHUNK)
                if not data:
                    break
                writer.write(data)
                if desc.size >= 0 and writer.offset > desc.size:
                    raise InvalidArgument(f"blob {desc.digest}: more data than the expected "
                                          f"{desc.size} bytes")
                if progress:
                    progress(writer.offset)
        finally:
            resp.close()

    def mount_blob(self, repo: str, digest: Digest, source: str) -> bool:
        """Cross-repository mount; True when the registry linked the blob (201)."""
        query = urlencode({"mount": str(digest), "from": source})
        scope = _scope(repo, "pull,push") + " " + _scope(source, "pull")
        resp = self._request("POST", f"/v2/{repo}/blobs/uploads/?{query}", scope, {"Content-Length": "0"}, b"")
        resp.read()
        if resp.status == 201:
            return True
        if resp.status == 202:
            self._cancel(resp)
            return False
        if resp.status in (401, 403, 404):
            return False
        raise self._error(resp.status, b"", f"{repo}@{digest}")

    def _cancel(self, resp: Response) -> None:
        location = resp.getheader("Location") or ""
        if location:
            try:
                self._request("DELETE", "", "", url=urljoin(self.base + "/", location)).read()
            except EngineError:
                pass

    def upload_blob(self, repo: str, desc: Descriptor, fileobj: BinaryIO,
                    progress: Callable[[int], None] | None = None) -> None:
        """Chunked upload with resume: POST a session, PATCH the blob ``upload_chunk`` bytes
        at a time (each with its ``Content-Range``), then ``PUT ?digest=``.

        After a failed PATCH or PUT (dropped connection, 5xx), the session's status (``GET``:
        its ``Range``) says how much the registry kept, and the upload goes on from there;
        a session the registry dropped or refused to resume (404, 416, distribution's
        ``BLOB_UPLOAD_INVALID``) starts over. ``RETRIES`` failures in a row without progress
        give up. ``fileobj`` must be seekable.

        Raises:
            InvalidArgument: the registry refused the digest; Unauthorized; Unavailable.
        """
        scope = _scope(repo, "pull,push")
        up = _Upload(self._start_upload(repo, scope), 0)
        failures, attempts = 0, 0
        while True:
            attempts += 1
            before = up.offset
            try:
                while up.offset < desc.size:
                    self._patch(up, scope, fileobj, min(self.upload_chunk, desc.size - up.offset),
                                progress, repo)
                self._finish_upload(up, scope, desc, repo)
                return
            except _Retry as exc:
                failures = failures + 1 if up.offset == before else 1
                if failures >= RETRIES or attempts >= 4 * RETRIES:
                    raise Unavailable(f"error pushing blob {desc.digest}: {exc}") from exc
                log.info("upload of %s: %s; resuming", desc.digest, exc)
                self._sleep(0.2 * failures)
                if exc.refused:
                    up.refusals = up.refusals + 1 if up.refused_at == up.offset else 1
                    up.refused_at = up.offset
                try:  # refused twice where the registry says it is: a session it gave up on
                    gone = exc.gone or not self._resume(up, scope) or \
                        (up.refusals >= 2 and up.offset == up.refused_at)
                except _Retry:
                    continue  # no status yet: the next PATCH learns (a 416) or goes on
                if gone:
                    if self.blob_size(repo, desc.digest, push=True) == desc.size:
                        return  # the PUT had landed; only its answer was lost
                    up = _Upload(self._start_upload(repo, scope), 0)

    def _start_upload(self, repo: str, scope: str) -> str:
        resp = self._request("POST", f"/v2/{repo}/blobs/uploads/", scope, {"Content-Length": "0"}, b"")
        body = resp.read()
        if resp.status != 202:
            raise self._error(resp.status, body, repo, push=True)
        return urljoin(self.base + "/", resp.getheader("Location") or "")

    def _patch(self, up: "_Upload", scope: str, fileobj: BinaryIO, n: int,
               progress: Callable[[int], None] | None, repo: str) -> None:
        fileobj.seek(up.offset)
        section = _Section(fileobj, up.offset, n, progress)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(n),
                   "Content-Range": f"{up.offset}-{up.offset + n - 1}"}
        resp = self._send_upload("PATCH", up.location, scope, headers, section)
        body = resp.read()
        if resp.status != 202:
            self._upload_failed(resp.status, body, repo)
        up.location = urljoin(up.location, resp.getheader("Location") or up.location)
        kept = _range_end(resp.getheader("Range"))
        up.offset = up.offset + n if kept is None or kept + 1 > up.offset + n else kept + 1

    def _finish_upload(self, up: "_Upload", scope: str, desc: Descriptor, repo: str) -> None:
        url = up.location + ("&" if "?" in up.location else "?") + urlencode({"digest": str(desc.digest)})
        resp = self._send_upload("PUT", url, scope, {"Content-Length": "0"}, b"")
        body = resp.read()
        if resp.status != 201:
            self._upload_failed(resp.status, body, f"{repo}@{desc.digest}")

    def _send_upload(self, method: str, url: str, scope: str, headers: dict[str, str],
                     body: Any) -> Response:
        try:
            return self._request(method, "", scope, headers, body, url=url)
        except Unavailable as exc:
            raise _Retry(str(exc)) from exc

    def _upload_failed(self, status: int, body: bytes, what: str) -> None:
        """A retry for what a later attempt may fix, else the registry's error."""
        if status >= 500 or status in (408, 429):
            raise _Retry(f"registry answered {status}")
        err = protocol.parse_errors(status, body)
        if status == 404 or err.code == "BLOB_UPLOAD_UNKNOWN":
            raise _Retry(f"upload session gone ({status} {err.code})", gone=True)
        if status == 416 or err.code == "BLOB_UPLOAD_INVALID":  # not where the registry is
            raise _Retry(f"upload refused at this offset ({status} {err.code})", refused=True)
        raise self._error(status, body, what, push=True)

    def _resume(self, up: "_Upload", scope: str) -> bool:
        """Set ``up.offset`` to where the registry's copy of the upload ends (``GET`` on the
        session: its ``Range``); False when the session is gone.

        Raises:
            _Retry: no answer, or not a status (a registry still busy with the cut request).
        """
        resp = self._send_upload("GET", up.location, scope, {}, None)
        body = resp.read()
        if resp.status == 404 or protocol.parse_errors(resp.status, body).code == "BLOB_UPLOAD_UNKNOWN":
            return False
        kept = _range_end(resp.getheader("Range"))
        if resp.status != 204 or kept is None:
            raise _Retry(f"upload status: registry answered {resp.status}")
        up.location = urljoin(up.location, resp.getheader("Location") or up.location)
        # "0-0" is both nothing and one byte: resume at 0 (refused there, it starts over)
        up.offset = kept + 1 if kept > 0 else 0
        return True

    # -- errors ------------------------------------------------------------------------------
    def _error(self, status: int, body: bytes, what: str, push: bool = False) -> EngineError:
        err = protocol.parse_errors(status, body)
        if status == 401:
            message = err.message if body else "authentication required"
            return Unauthorized(f"unauthorized: {message}")
        if status == 404 and err.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"):
            return NotFound(f"{err.code.lower().replace('_', ' ')}: {err.message}")
        return err.as_kind()


class _Short(Exception):
    pass


class _Retry(Exception):
    """An upload step to try again: ``gone``, the session no longer exists; ``refused``, the
    registry holds a different amount than the client sent from."""

    def __init__(self, message: str, gone: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.gone, self.refused = gone, refused


@dataclass
class _Upload:
    location: str  # the session's URL, as the registry's last answer gave it
    offset: int  # bytes the registry holds
    refused_at: int = -1  # the offset of the last 416 (or upload in use)
    refusals: int = 0  # how many in a row at that offset


class _Section:
    """``n`` bytes of a seekable file from ``offset`` (already positioned there), re-readable
    from its start by ``seek(0)`` (a 401 answered by a new token sends the body again)."""

    def __init__(self, inner: BinaryIO, offset: int, n: int,
                 progress: Callable[[int], None] | None) -> None:
        self._inner, self._offset, self._n, self._done = inner, offset, n, 0
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        left = self._n - self._done
        data = self._inner.read(left if size < 0 else min(size, left)) if left > 0 else b""
        self._done += len(data)
        if self._progress and data:
            self._progress(self._offset + self._done)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        if pos != 0 or whence != 0:
            raise OSError("a section rewinds to its start only")
        self._inner.seek(self._offset)
        self._done = 0
        return 0


def _range_end(value: str | None) -> int | None:
    """The last byte of a ``Range: 0-N`` upload status header."""
    start, sep, end = (value or "").strip().removeprefix("bytes=").partition("-")
    if not sep or start.strip() != "0" or not end.strip().isdigit():
        return None
    return int(end)


def _scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


def _pick(header: str) -> protocol.Challenge | None:
    challenges = protocol.parse_challenges(header)
    for want in ("bearer", "basic"):
        for ch in challenges:
            if ch.scheme == want:
                return ch
    return None


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(exc, socket.timeout):
        return "i/o timeout"
    if isinstance(exc, socket.gaierror):
        return f"lookup failed: {exc.strerror}"
    return str(exc) or exc.__class__.__name__


def verify_bytes(data: bytes, desc: Descriptor) -> None:
    """Check fetched bytes against a descriptor.

    Raises:
        InvalidArgument: size or digest differs.
    """
    d = Digester(desc.digest.algorithm)
    d.update(data)
    if (desc.size >= 0 and d.size != desc.size) or d.digest() != desc.digest:
        raise InvalidArgument(f"failed to verify {desc.digest}: content does not match "
                              f"(got {d.digest()}, {d.size} bytes)")
