"""Push: a local image's blobs (missing ones only) and manifest to a registry.

For every layer the blob to send is, in order of preference: a compressed blob pulled from
the same registry (a ``HEAD`` shows it is there: "Layer already exists", or a cross-repo mount:
"Mounted from <repo>"), any compressed blob kept for the layer (pulled elsewhere, or made by
an earlier push), else a deterministic gzip of the layer tar (``support.pgzip``: parallel, mtime 0, level 1)
made now and kept for the next push. A pulled image whose stored manifest still names exactly
those blobs is pushed with its original manifest bytes, so its digest stays the same.
Layers go ``max_concurrent_uploads`` at a time.

Layer 4. May import: errors, support, oci, store, registry.client, image.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from dataclasses import dataclass
from typing import Any

from hako.errors import EngineError, NotFound
from hako.image.progress import Emit, Progress, Throttle
from hako.oci import imageconfig, manifest as oci_manifest, mediatypes as mt, reference
from hako.oci.descriptor import Descriptor
from hako.oci.digest import Digest
from hako.oci.reference import Reference
from hako.registry.client import Credentials, RegistryClient
from hako.store.metadata import DistributionRecord
from hako.support import pgzip

_TO_DOCKER = {mt.OCI_LAYER_GZIP: mt.DOCKER_LAYER_GZIP, mt.OCI_LAYER: mt.DOCKER_LAYER,
              mt.DOCKER_LAYER_GZIP: mt.DOCKER_LAYER_GZIP, mt.DOCKER_LAYER: mt.DOCKER_LAYER,
              mt.OCI_LAYER_NONDIST_GZIP: mt.DOCKER_LAYER_FOREIGN,
              mt.DOCKER_LAYER_FOREIGN: mt.DOCKER_LAYER_FOREIGN}


GZIP_LEVEL = 1  # fast; the output is deterministic (hako.support.pgzip)


@dataclass
class PushTarget:
    ref: Reference  # repository
    tags: list[tuple[str, str]]  # (tag, image id)


def plan(svc: Any, name: str, tag: str = "") -> PushTarget:
    """The tags to push (``tag``, or every tag of the repository).

    Raises:
        NotFound: ``An image does not exist locally with the tag: <name>``.
    """
    ref = reference.parse(name)
    if tag:
        ref = ref.with_digest(Digest.parse(tag)) if ":" in tag else ref.with_tag(tag)
    repo = Reference(ref.domain, ref.path)
    pairs: list[tuple[str, str]] = []
    if ref.tag:
        image_id = svc.meta.resolve(str(ref))
        if image_id:
            pairs.append((ref.tag, image_id))
    elif ref.digest is None:
        for image_id, names in svc.meta.all_names().items():
            for n in names:
                r = reference.parse(n)
                if r.name == repo.name and r.tag:
                    pairs.append((r.tag, image_id))
    if not pairs:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    pairs.sort()
    return PushTarget(repo, pairs)


def push(svc: Any, target: PushTarget, emit: Emit, credentials: Credentials | None = None,
         transport: Any = None) -> None:
    """Push every tag of ``target``.

    Raises:
        EngineError kinds (Unauthorized with Docker's texts, Unavailable...).
    """
    ref = target.ref
    emit(Progress(f"The push refers to repository [{ref.name}]", detail=False))
    ep = svc.registries.push_endpoint(ref.domain)
    client = RegistryClient(ep.host, insecure=ep.insecure, credentials=credentials,
                            transport=transport, base_url=ep.base_url)
    for tag, image_id in target.tags:
        _push_image(svc, client, ref, tag, image_id, emit)


def _push_image(svc: Any, client: RegistryClient, ref: Reference, tag: str, image_id: str,
                emit: Emit) -> None:
    config_bytes = svc.content.read_bytes(Digest.parse(image_id))
    diff_ids = imageconfig.diff_ids(imageconfig.parse_config(config_bytes))
    for d in diff_ids:
        emit(Progress("Preparing", d.short))
    workers = max(1, svc.registries.max_concurrent_uploads)
    with svc.leases.lease() as lease:
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="hako-push") as pool:
            futures = [pool.submit(_push_layer, svc, client, ref, d, lease, emit) for d in diff_ids]
            if len(diff_ids) > workers:
                for d in diff_ids[workers:]:
                    emit(Progress("Waiting", d.short))
            layers = [f.result() for f in futures]
        config = Descriptor(mt.DOCKER_CONFIG, Digest.parse(image_id), len(config_bytes))
        if client.blob_size(ref.path, config.digest, push=True) is None:
            import io

            client.upload_blob(ref.path, config, io.BytesIO(config_bytes))
        data, media_type = _manifest(svc, image_id, config, layers)
    digest = client.put_manifest(ref.path, tag, data, media_type)
    emit(Progress(f"{tag}: digest: {digest} size: {len(data)}", detail=False))
    emit(Progress("", aux={"Tag": tag, "Digest": str(digest), "Size": len(data)}))
    svc.meta.set_name(str(ref.with_digest(digest)), image_id)


def _manifest(svc: Any, image_id: str, config: Descriptor, layers: list[Descriptor]) -> tuple[bytes, str]:
    rec = svc.meta.get_image(image_id)
    if rec is not None and rec.manifest and svc.content.exists(Digest.parse(rec.manifest)):
        original = svc.content.read_bytes(Digest.parse(rec.manifest))
        try:
            doc = oci_manifest.parse(original)
        except EngineError:
            doc = None
        if isinstance(doc, oci_manifest.Manifest) and doc.config.digest == config.digest and \
                [d.digest for d in doc.layers] == [d.digest for d in layers]:
            return original, doc.media_type
    if all(d.media_type in _TO_DOCKER for d in layers):
        doc = oci_manifest.Manifest(config, tuple(
            Descriptor(_TO_DOCKER[d.media_type], d.digest, d.size) for d in layers), mt.DOCKER_MANIFEST)
    else:
        doc = oci_manifest.Manifest(
            Descriptor(mt.OCI_CONFIG, config.digest, config.size),
            tuple(Descriptor(oci_manifest.to_oci_media_type(d.media_type), d.digest, d.size)
                  for d in layers), mt.OCI_MANIFEST)
    return json.dumps(doc.to_json(), indent=3).encode(), doc.media_type


def _push_layer(svc: Any, client: RegistryClient, ref: Reference, diff_id: Digest, lease: Any,
                emit: Emit) -> Descriptor:
    layer_id = diff_id.short
    records = [r for r in svc.meta.distribution_of(str(diff_id))
               if svc.content.exists(Digest.parse(r.digest))]
    for rec in records:
        lease.add(rec.digest)
    here = [r for r in records if r.registry == ref.domain]
    for rec in here + [r for r in records if r.registry != ref.domain]:
        desc = Descriptor(rec.media_type, Digest.parse(rec.digest), rec.size)
        if client.blob_size(ref.path, desc.digest, push=True) is not None:
            emit(Progress("Layer already exists", layer_id))
            _remember(svc, desc, diff_id, ref)
            return desc
    for rec in here:
        if rec.repository != ref.path:
            desc = Descriptor(rec.media_type, Digest.parse(rec.digest), rec.size)
            if client.mount_blob(ref.path, desc.digest, rec.repository):
                emit(Progress(f"Mounted from {rec.repository}", layer_id))
                _remember(svc, desc, diff_id, ref)
                return desc
    desc = _local_blob(svc, diff_id, records, lease)
    progress = Throttle(emit, "Pushing", layer_id, desc.size)
    with svc.content.open(desc.digest) as f:
        client.upload_blob(ref.path, desc, f, progress)
    emit(Progress("Pushed", layer_id))
    _remember(svc, desc, diff_id, ref)
    return desc


def _remember(svc: Any, desc: Descriptor, diff_id: Digest, ref: Reference) -> None:
    svc.meta.add_distribution(DistributionRecord(str(desc.digest), str(diff_id), desc.media_type,
                                                 desc.size, ref.domain, ref.path))


def _local_blob(svc: Any, diff_id: Digest, records: list, lease: Any) -> Descriptor:
    """A compressed blob of the layer: one already kept, else a deterministic gzip made now."""
    for rec in records:
        return Descriptor(rec.media_type, Digest.parse(rec.digest), rec.size)
    layer = svc.meta.get_layer(str(diff_id))
    if layer is None:
        raise NotFound(f"layer {diff_id} of the image is missing")
    blob = Digest.parse(layer.blob)
    if layer.media_type != mt.DOCKER_LAYER and mt.compression(layer.media_type):
        lease.add(blob)
        return Descriptor(layer.media_type, blob, svc.content.info(blob).size)
    ref = f"compress-{diff_id}-{os.getpid()}-{id(lease)}"
    with svc.content.writer(ref) as writer, svc.content.open(blob) as src:
        for piece in pgzip.compress(src, GZIP_LEVEL):
            writer.write(piece)
        size = writer.offset
        digest = writer.commit()
    lease.add(digest)
    desc = Descriptor(mt.DOCKER_LAYER_GZIP, digest, size)
    svc.meta.add_distribution(DistributionRecord(str(digest), str(diff_id), desc.media_type,
                                                 size, "", ""))
    return desc
