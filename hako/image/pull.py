"""Pull: resolve a reference on a registry → fetch manifest, config and layers → record.

Two steps, so that the API can answer errors of the first one with a status code (as dockerd
does before its progress stream starts):

1. ``resolve(svc, ref, ...)`` picks the endpoint (mirrors first for docker.io), fetches the
   manifest (by tag or digest; an index or manifest list is narrowed to the host platform
   or ``platform``), checks every media type, and fetches and verifies the config.
2. ``fetch(svc, resolved, emit)`` downloads the missing layers (``max_concurrent_downloads``
   at once) into the content store as pulled (ingest → digest and size verified → rename,
   under a lease), unpacks them bottom first through the one extractor (``Unpacker``; the
   first missing layer while it downloads, its snapshot committed only after the blob verified),
   checks each diff id against the config, and records the image with its names, manifest
   and the blobs' source repository (so a push re-uses them byte for byte).

A failure removes what the pull had not committed: its ingests are aborted, and snapshots of
an unverified layer are removed. Layer 4. May import: errors, support, oci, store,
registry.client, image.
"""

from __future__ import annotations

import concurrent.futures
import json
import queue
import threading
from dataclasses import dataclass
from typing import Any

from hako.errors import (AlreadyExists, EngineError, Internal, InvalidArgument, NotFound, Unauthorized,
                         Unavailable, Unsupported)
from hako.image.progress import Emit, Progress, Throttle
from hako.oci import imageconfig, manifest as oci_manifest, mediatypes as mt
from hako.oci.descriptor import Descriptor
from hako.oci.digest import Digest
from hako.oci.reference import Reference
from hako.registry.client import Credentials, RegistryClient, verify_bytes

MAX_CONFIG = 8 << 20


@dataclass
class Resolved:
    ref: Reference
    client: RegistryClient
    endpoint_host: str
    digest: Digest  # of what the tag names (an index or a manifest)
    manifest: oci_manifest.Manifest
    manifest_bytes: bytes
    manifest_digest: Digest
    config_bytes: bytes
    diff_ids: list[Digest]


def _pull_denied(ref: Reference) -> NotFound:
    # dockerd answers a denied pull as "not found" (404): the CLI then does not prompt
    return NotFound(
        f"pull access denied for {ref.familiar_name}, repository does not exist or may require "
        "'docker login': denied: requested access to the resource is denied")


def resolve(svc: Any, ref: Reference, credentials: Credentials | None = None,
            platform: str = "", transport: Any = None) -> Resolved:
    """Find the image on a registry (see the module docstring).

    Raises:
        NotFound: ``manifest for <ref> not found: manifest unknown: ...``.
        Unauthorized: pull access denied. Unavailable: no endpoint answered.
        Unsupported/InvalidArgument: unknown media types, no platform match, bad content.
    """
    return _on_endpoints(svc, ref, credentials, transport,
                         lambda client, host: _resolve_on(client, host, ref, platform))


def list_tags(svc: Any, ref: Reference, credentials: Credentials | None = None,
              transport: Any = None) -> list[str]:
    """Every tag of the repository (``pull --all-tags``)."""
    def tags(client: RegistryClient, host: str) -> list[str]:
        try:
            found = client.tags(ref.path)
        except NotFound as exc:
            raise NotFound(f"repository {ref.familiar_name} not found: {exc}") from exc
        except Unauthorized as exc:
            raise _pull_denied(ref) from exc
        if not found:
            raise NotFound(f"repository {ref.familiar_name} has no tags")
        return found

    return _on_endpoints(svc, ref, credentials, transport, tags)


def _on_endpoints(svc: Any, ref: Reference, credentials: Credentials | None, transport: Any, fn):
    """Try ``fn(client, host)`` on each endpoint (mirrors first). When all fail, a definite
    answer (not found, denied) of a mirror wins over an unreachable registry after it."""
    errors: list[EngineError] = []
    for ep in svc.registries.endpoints(ref.domain):
        client = RegistryClient(ep.host, insecure=ep.insecure, credentials=credentials,
                                transport=transport, base_url=ep.base_url)
        try:
            return fn(client, ep.host)
        except (Unavailable, NotFound, Unauthorized) as exc:
            errors.append(exc)
            if not ep.mirror:
                break
    definite = [e for e in errors if not isinstance(e, Unavailable)]
    if definite:
        raise definite[0]
    raise errors[-1] if errors else Unavailable(f"no registry endpoint for {ref.domain}")


def _resolve_on(client: RegistryClient, host: str, ref: Reference, platform: str) -> Resolved:
    target = str(ref.digest) if ref.digest is not None else (ref.tag or "latest")
    try:
        data, media_type, digest = client.get_manifest(ref.path, target)
    except NotFound as exc:  # moby's translatePullError wording
        if str(exc).startswith("name unknown"):
            raise NotFound(f"repository {ref.familiar_name} not found: {exc}") from exc
        raise NotFound(f"manifest for {ref.with_default_tag().familiar()} not found: {exc}") from exc
    except Unauthorized as exc:
        if "no basic auth" in str(exc):  # dockerd: a plain (500) error, no login prompt
            raise Internal(f'Head "{client.base}/v2/{ref.path}/manifests/{target}": '
                           "no basic auth credentials") from exc
        raise _pull_denied(ref) from exc
    top = digest
    doc = _parse(data, media_type)
    if isinstance(doc, oci_manifest.Index):
        desc = _pick_platform(doc, platform)
        data, media_type, digest = client.get_manifest(ref.path, str(desc.digest))
        doc = _parse(data, media_type)
        if isinstance(doc, oci_manifest.Index):
            raise Unsupported("nested image indexes are not supported")
    _check_types(doc)
    config = client_fetch_small(client, ref.path, doc.config)
    raw = imageconfig.parse_config(config)
    diff_ids = imageconfig.diff_ids(raw)
    if len(diff_ids) != len(doc.layers):
        raise InvalidArgument(f"invalid image: {len(doc.layers)} layers in the manifest but "
                              f"{len(diff_ids)} diff ids in the config")
    return Resolved(ref, client, host, top, doc, data, digest, config, diff_ids)


def _parse(data: bytes, media_type: str):
    if media_type and not (mt.is_manifest(media_type) or mt.is_index(media_type)) and \
            media_type not in ("application/json", "text/plain"):
        raise Unsupported(f"unsupported manifest media type: {media_type}")
    try:
        declared = json.loads(data).get("mediaType", "")
    except (ValueError, AttributeError):
        raise InvalidArgument("invalid manifest: not a JSON object") from None
    if declared and not (mt.is_manifest(declared) or mt.is_index(declared)):
        raise Unsupported(f"unsupported manifest media type: {declared}")
    return oci_manifest.parse(data, media_type or None)


def _check_types(doc: oci_manifest.Manifest) -> None:
    if doc.config.media_type and not mt.is_config(doc.config.media_type):
        raise Unsupported(f"unsupported config media type: {doc.config.media_type}")
    for layer in doc.layers:
        if not mt.is_layer(layer.media_type) or (
                mt.compression(layer.media_type) == "" and layer.media_type not in
                (mt.DOCKER_LAYER, mt.OCI_LAYER, mt.OCI_LAYER_NONDIST)):
            raise Unsupported(f"unsupported layer media type: {layer.media_type}")
        if layer.urls:
            raise Unsupported(f"foreign layer {layer.digest} (urls) is not supported")


def _pick_platform(index: oci_manifest.Index, platform: str) -> Descriptor:
    host_os, host_arch, host_variant = imageconfig.host_platform()
    want_os, want_arch, want_variant = host_os, host_arch, ""
    if platform:
        parts = platform.split("/")
        want_os = parts[0] or host_os
        want_arch = parts[1] if len(parts) > 1 else host_arch
        want_variant = parts[2] if len(parts) > 2 else ""
    candidates = [d for d in index.manifests if mt.is_manifest(d.media_type) or not d.media_type]
    matches = [d for d in candidates if (d.platform or {}).get("os") == want_os
               and (d.platform or {}).get("architecture") == want_arch]
    if want_variant:
        matches = [d for d in matches if (d.platform or {}).get("variant", "") == want_variant]
    if not matches:
        shown = f"{want_os}/{want_arch}" + (f"/{want_variant}" if want_variant else "")
        raise NotFound(f"no matching manifest for {shown} in the manifest list entries")
    exact = [d for d in matches if (d.platform or {}).get("variant", "") == host_variant]
    return (exact or matches)[0]


def client_fetch_small(client: RegistryClient, repo: str, desc: Descriptor) -> bytes:
    if desc.size > MAX_CONFIG:
        raise InvalidArgument(f"config blob {desc.digest} too large ({desc.size} bytes)")
    buf = _Buffer()
    client.fetch_blob(repo, desc, buf)
    verify_bytes(bytes(buf.data), desc)
    return bytes(buf.data)


class _Buffer:
    def __init__(self) -> None:
        self.data = bytearray()

    @property
    def offset(self) -> int:
        return len(self.data)

    def write(self, chunk: bytes) -> int:
        if len(self.data) + len(chunk) > MAX_CONFIG:
            raise InvalidArgument("config blob too large")
        self.data += chunk
        return len(chunk)


# -- fetch -------------------------------------------------------------------------------------
def fetch(svc: Any, r: Resolved, emit: Emit) -> str:
    """Download, verify, unpack and record (see the module docstring). Returns the image id.

    Raises:
        EngineError kinds; nothing unverified stays in the store.
    """
    ref = r.ref
    emit(Progress(f"Pulling from {ref.path}", str(ref.digest) if ref.digest else ref.tag or "latest",
                  detail=False))
    image_id = str(Digest.from_bytes(r.config_bytes))
    names = _names(ref, r.digest)
    chains = imageconfig.chain_ids(r.diff_ids)
    with svc.leases.lease() as lease, svc.unpacker.pinned():
        present = _present_prefix(svc, r.diff_ids, chains)
        for desc in r.manifest.layers[:present]:
            emit(Progress("Already exists", desc.digest.short))
        todo = list(r.manifest.layers[present:])
        up_to_date = not todo and svc.meta.get_image(image_id) is not None
        if todo:
            _download_and_unpack(svc, r, todo, present, chains, lease, emit)
        manifest_digest = svc.content.put_bytes(r.manifest_bytes)
        lease.add(manifest_digest)
        svc.add_image(r.config_bytes, names, manifest=str(manifest_digest))
    for desc, diff_id in zip(r.manifest.layers, r.diff_ids):
        if svc.content.exists(desc.digest):
            from hako.store.metadata import DistributionRecord

            svc.meta.add_distribution(DistributionRecord(
                str(desc.digest), str(diff_id), desc.media_type, desc.size, ref.domain, ref.path))
    emit(Progress(f"Digest: {r.digest}", detail=False))
    shown = ref.familiar() if ref.digest is not None else ref.with_default_tag().familiar()
    if up_to_date:
        emit(Progress(f"Status: Image is up to date for {shown}", detail=False))
    else:
        emit(Progress(f"Status: Downloaded newer image for {shown}", detail=False))
    return image_id


def _names(ref: Reference, digest: Digest) -> tuple[str, ...]:
    if ref.digest is not None:
        return (str(ref),)
    tagged = ref.with_default_tag()
    return (str(tagged), str(tagged.with_digest(digest)))


def _present_prefix(svc: Any, diff_ids: list[Digest], chains: list[Digest]) -> int:
    """How many bottom layers are already unpacked (with their blob)."""
    n = 0
    for i, (diff_id, chain) in enumerate(zip(diff_ids, chains)):
        rec = svc.meta.get_layer(str(diff_id))
        if rec is not None and svc.unpacker.has_chain(chain) and \
                svc.content.exists(Digest.parse(rec.blob)):
            n = i + 1
        else:
            break
    if n:
        svc.unpacker.have_layers(diff_ids[:n])  # pins the chain for this pull
    return n


def _download_and_unpack(svc: Any, r: Resolved, todo: list[Descriptor], base: int,
                         chains: list[Digest], lease: Any, emit: Emit) -> None:
    for desc in todo:
        emit(Progress("Pulling fs layer", desc.digest.short))
    cancel = threading.Event()
    workers = max(1, svc.registries.max_concurrent_downloads)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="hako-pull") as pool:
        # the first missing layer is extracted while it downloads (its snapshot is committed
        # only after the blob verified); the others download to the content store meanwhile
        streamed = _Pipe() if not svc.content.exists(todo[0].digest) else None
        futures = [pool.submit(_download, svc, r, d, lease, emit, cancel,
                               streamed if i == 0 else None) for i, d in enumerate(todo)]
        if len(todo) > workers:
            for desc in todo[workers:]:
                emit(Progress("Waiting", desc.digest.short))
        try:
            parent = chains[base - 1] if base else None
            for i, (desc, fut) in enumerate(zip(todo, futures)):
                if i == 0 and streamed is not None:
                    parent = _unpack_streamed(svc, r, desc, base, parent, fut, streamed, emit)
                    continue
                fut.result()
                parent = _unpack_one(svc, r, desc, base + i, parent, emit)
        except BaseException:
            cancel.set()
            for fut in futures:
                fut.cancel()
            raise


class PullCancelled(Internal):
    """Another layer of the pull failed (never retried by the client)."""


class _Pipe:
    """Bytes from the downloading thread to the extracting one (bounded), ended by ``close``."""

    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue(maxsize=32)
        self._buf = b""
        self._pos = 0
        self._eof = False

    def put(self, data: bytes) -> None:
        self.q.put(bytes(data))

    def close(self) -> None:
        self.q.put(None)

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (at most one queued chunk's worth), b"" at the end."""
        while not self._buf and not self._eof:
            item = self.q.get()
            if item is None:
                self._eof = True
            else:
                self._buf, self._pos = item, 0
        if not self._buf:
            return b""
        end = len(self._buf) if n is None or n < 0 else min(len(self._buf), self._pos + n)
        out = self._buf[self._pos:end]
        self._pos = end
        if self._pos >= len(self._buf):
            self._buf = b""
        return out

    def drain(self) -> None:
        while not self._eof:
            if self.q.get() is None:
                self._eof = True
        self._buf = b""


class _TeeWriter:
    def __init__(self, writer: Any, pipe: _Pipe) -> None:
        self._writer, self._pipe = writer, pipe

    @property
    def offset(self) -> int:
        return self._writer.offset

    def write(self, data: bytes) -> int:
        n = self._writer.write(data)
        self._pipe.put(data)
        return n


def _download(svc: Any, r: Resolved, desc: Descriptor, lease: Any, emit: Emit,
              cancel: threading.Event, pipe: _Pipe | None = None) -> None:
    try:
        _download_to(svc, r, desc, lease, emit, cancel, pipe)
    finally:
        if pipe is not None:
            pipe.close()


def _download_to(svc: Any, r: Resolved, desc: Descriptor, lease: Any, emit: Emit,
                 cancel: threading.Event, pipe: _Pipe | None) -> None:
    lease.add(desc.digest)
    layer_id = desc.digest.short
    if svc.content.exists(desc.digest):
        emit(Progress("Download complete", layer_id))
        return
    ref = f"pull-{desc.digest}-{threading.get_ident()}"
    try:
        writer = svc.content.writer(ref, desc.digest)
    except AlreadyExists:
        emit(Progress("Download complete", layer_id))
        return
    try:
        with writer:
            progress = Throttle(emit, "Downloading", layer_id, desc.size)

            def on_bytes(n: int) -> None:
                if cancel.is_set():
                    raise PullCancelled("pull cancelled")
                progress(n)

            sink = writer if pipe is None else _TeeWriter(writer, pipe)
            r.client.fetch_blob(r.ref.path, desc, sink, on_bytes)
            emit(Progress("Verifying Checksum", layer_id))
            try:
                writer.commit(desc.digest, desc.size)
            except EngineError as exc:
                raise InvalidArgument(
                    f"filesystem layer verification failed for digest {desc.digest}") from exc
    except BaseException:
        svc.content.abort(ref)
        raise
    emit(Progress("Download complete", layer_id))


class _Counting:
    def __init__(self, inner: Any, on_bytes) -> None:
        self._inner, self._on, self._n = inner, on_bytes, 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self._n += len(data)
        self._on(self._n)
        return data


def _unpack_one(svc: Any, r: Resolved, desc: Descriptor, index: int, parent: Digest | None,
                emit: Emit) -> Digest:
    layer_id = desc.digest.short
    progress = Throttle(emit, "Extracting", layer_id, desc.size)
    with svc.content.open(desc.digest) as f:
        unpacked = svc.unpacker.unpack(parent, _Counting(f, progress), blob=desc)
    if unpacked.diff_id != r.diff_ids[index]:
        _discard_chain(svc, unpacked.chain_id)
        raise InvalidArgument(
            f"layer {desc.digest} does not match the image config: diff id {unpacked.diff_id}, "
            f"expected {r.diff_ids[index]}")
    emit(Progress("Pull complete", layer_id))
    return unpacked.chain_id


def _unpack_streamed(svc: Any, r: Resolved, desc: Descriptor, index: int, parent: Digest | None,
                     fut: concurrent.futures.Future, pipe: _Pipe, emit: Emit) -> Digest:
    """Extract a layer from the bytes its download passes on; the snapshot is committed only
    once the download verified the blob (else the extraction is thrown away)."""
    layer_id = desc.digest.short

    def downloaded() -> None:
        pipe.drain()  # the tar may end before the gzip stream does
        fut.result()

    try:
        unpacked = svc.unpacker.unpack(parent, pipe, blob=desc, verify=downloaded)
    except BaseException as exc:
        pipe.drain()
        failure = fut.exception()
        if failure is not None and failure is not exc:
            raise failure from exc  # a bad blob explains a bad tar: report the blob
        raise
    if unpacked.diff_id != r.diff_ids[index]:
        _discard_chain(svc, unpacked.chain_id)
        raise InvalidArgument(
            f"layer {desc.digest} does not match the image config: diff id {unpacked.diff_id}, "
            f"expected {r.diff_ids[index]}")
    emit(Progress("Pull complete", layer_id))
    return unpacked.chain_id


def _discard_chain(svc: Any, chain: Digest) -> None:
    """Remove a snapshot a mismatching layer made, unless something else uses it."""
    with svc.lock:
        users = {str(c) for rec in svc.meta.images()
                 for c in imageconfig.chain_ids(imageconfig.diff_ids(
                     imageconfig.parse_config(svc.content.read_bytes(Digest.parse(rec.id)))))}
        if str(chain) in users:
            return
        try:
            svc.sn.remove(str(chain))
        except EngineError:
            pass
