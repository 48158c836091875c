"""``docker save`` / ``docker load`` archives.

Save writes Docker 20.10's docker-archive format::

    <v1 id>/VERSION, <v1 id>/json, <v1 id>/layer.tar   one directory per layer
    <config hex>.json                                  the image config
    manifest.json   [{"Config", "RepoTags", "Layers"}]
    repositories    {"busybox": {"latest": "<top v1 id>"}}

Load reads that format, Docker 25+'s (OCI layout plus manifest.json) and plain OCI layouts
(index.json → [index →] manifest → config and layers, gzip/zstd layers allowed). The
archive is extracted into ``<root>/tmp`` by the one extractor (``hako.support.untar``),
and every file of it is opened by descriptor inside that directory.

Layer 4. May import: errors, support, oci, store.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from hako.errors import ImageNotFound, InvalidArgument
from hako.image.streaming import threaded_stream
from hako.oci import imageconfig, manifest as oci_manifest, mediatypes as mt, reference
from hako.oci.digest import Digest
from hako.support import fsroot, ids, tarsafe, untar

LOAD_LIMITS = untar.Limits(max_entries=1_000_000)


# -- save ------------------------------------------------------------------------------------
def _select(svc, refs: list[str]) -> dict[str, list[str]]:
    """image id → familiar tags to record, in request order."""
    out: dict[str, list[str]] = {}
    for text in refs:
        ref = None
        try:
            ref = reference.parse(text)
        except InvalidArgument:
            if not ids.is_full_id(text.removeprefix("sha256:")):
                raise
        if ref is not None and not ref.tag and ref.digest is None:
            repo_names = [(n, i) for i, names in svc.meta.all_names().items() for n in names
                          if reference.parse(n).name == ref.name and reference.parse(n).tag]
            if repo_names:
                for name, image_id in repo_names:
                    out.setdefault(image_id, []).append(reference.parse(name).familiar())
                continue
        image_id = svc.resolve(text)
        tags = out.setdefault(image_id, [])
        id_like = image_id.startswith(text) or image_id[7:].startswith(text)
        if ref is not None and not id_like and ref.digest is None:
            tags.append(ref.with_default_tag().familiar())
    return out


def _v1_ids(chain: list[Digest]) -> list[str]:
    out, parent = [], ""
    for c in chain:
        parent = Digest.from_bytes(f"{parent} {c}".encode()).hex
        out.append(parent)
    return out


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    import io

    tf.addfile(info, io.BytesIO(data))


def _add_dir(tf: tarfile.TarFile, name: str, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
    tf.addfile(info)


def _write_archive(svc, selection: dict[str, list[str]], out) -> None:
    tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
    manifest, repositories, written = [], {}, set()
    for image_id, tags in selection.items():
        config_bytes = svc.content.read_bytes(Digest.parse(image_id))
        raw = imageconfig.parse_config(config_bytes)
        diffs = imageconfig.diff_ids(raw)
        v1 = _v1_ids(imageconfig.chain_ids(diffs))
        from hako.image.model import created_unix

        mtime = created_unix(raw.get("created", ""))
        layers = []
        for i, (diff_id, v1id) in enumerate(zip(diffs, v1)):
            layers.append(f"{v1id}/layer.tar")
            if v1id in written:
                continue
            written.add(v1id)
            _write_layer_dir(svc, tf, raw, diff_id, v1id, v1[i - 1] if i else "", i == len(v1) - 1, mtime)
        _add_bytes(tf, f"{image_id[7:]}.json", config_bytes, mtime)
        manifest.append({"Config": f"{image_id[7:]}.json", "RepoTags": tags or None, "Layers": layers})
        for tag in tags:
            ref = reference.parse(tag)
            if v1:
                repositories.setdefault(ref.familiar_name, {})[ref.tag] = v1[-1]
    _add_bytes(tf, "manifest.json", json.dumps(manifest, separators=(",", ":")).encode(), 0)
    if repositories:
        _add_bytes(tf, "repositories", json.dumps(repositories).encode(), 0)
    tf.close()


def _write_layer_dir(svc, tf, raw, diff_id, v1id, parent, top, mtime) -> None:
    _add_dir(tf, v1id, mtime)
    _add_bytes(tf, f"{v1id}/VERSION", b"1.0", mtime)
    if top:
        doc = {k: v for k, v in raw.items() if k not in ("history", "rootfs")}
    else:
        doc = {"created": "1970-01-01T00:00:00Z",
               "container_config": imageconfig.default_container_config()}
    doc["id"] = v1id
    if parent:
        doc["parent"] = parent
    _add_bytes(tf, f"{v1id}/json", json.dumps(doc, separators=(",", ":")).encode(), mtime)
    layer = svc.meta.get_layer(str(diff_id))
    if layer is None:
        raise ImageNotFound(f"layer {diff_id} of the image is missing")
    blob = Digest.parse(layer.blob)
    info = tarfile.TarInfo(f"{v1id}/layer.tar")
    info.size, info.mtime, info.mode = svc.content.info(blob).size, mtime, 0o644
    with svc.content.open(blob) as f:
        if layer.media_type == mt.DOCKER_LAYER:
            tf.addfile(info, f)
        else:  # a compressed blob: store the plain tar, as Docker does
            plain = tarsafe.decompressed(f)
            tmp = tempfile.TemporaryFile(dir=os.path.join(svc.root, "tmp"))
            shutil.copyfileobj(plain, tmp)
            info.size = tmp.tell()
            tmp.seek(0)
            tf.addfile(info, tmp)
            tmp.close()


def save(svc, refs: list[str]) -> Iterator[bytes]:
    """Resolve ``refs`` now (errors raise here) and return the archive stream.

    Raises:
        ImageNotFound, InvalidArgument.
    """
    if not refs:
        raise InvalidArgument("no images specified")
    os.makedirs(os.path.join(svc.root, "tmp"), exist_ok=True)
    selection = _select(svc, refs)
    return threaded_stream(lambda out: _write_archive(svc, selection, out), "hako-save")


# -- load ------------------------------------------------------------------------------------
@dataclass
class _Entry:
    config: bytes
    layers: list[str]  # paths inside the extracted archive
    names: list[str]  # full normalized references


def _extract(fileobj: BinaryIO, dest: str) -> None:
    untar.extract(fileobj, dest, untar.Options(owner=None, specials=untar.REFUSE,
                                               limits=LOAD_LIMITS))


def _open(dest: str, rel: str) -> BinaryIO:
    """Open a file of the extracted archive, resolved inside it by descriptors."""
    try:
        fd = fsroot.open_in_root(dest, tarsafe.clean_name(rel))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, InvalidArgument):
        raise InvalidArgument(f"invalid archive: {rel} is missing") from None
    return os.fdopen(fd, "rb")


def _exists(dest: str, rel: str) -> bool:
    try:
        _open(dest, rel).close()
        return True
    except InvalidArgument:
        return False


def _read(dest: str, rel: str) -> bytes:
    with _open(dest, rel) as f:
        return f.read()


def _docker_entries(dest: str) -> list[_Entry]:
    try:
        doc = json.loads(_read(dest, "manifest.json"))
    except ValueError as exc:
        raise InvalidArgument(f"invalid manifest.json: {exc}") from exc
    out = []
    for item in doc or []:
        names = [str(reference.parse_normalized(t)) for t in item.get("RepoTags") or []]
        out.append(_Entry(_read(dest, item["Config"]), list(item.get("Layers") or []), names))
    return out


def _blob(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _oci_entries(dest: str) -> list[_Entry]:
    index = oci_manifest.parse(_read(dest, "index.json"))
    if not isinstance(index, oci_manifest.Index):
        raise InvalidArgument("invalid OCI layout: index.json is not an index")
    out = []
    for desc in index.manifests:
        names = _oci_names(desc.annotations)
        doc = oci_manifest.parse(_read(dest, _blob(desc.digest)), desc.media_type)
        if isinstance(doc, oci_manifest.Index):
            doc = _pick_platform(dest, doc)
        out.append(_Entry(_read(dest, _blob(doc.config.digest)),
                          [_blob(layer.digest) for layer in doc.layers], names))
    return out


def _oci_names(annotations: dict[str, str]) -> list[str]:
    name = annotations.get("io.containerd.image.name") or ""
    if not name:
        ref_name = annotations.get("org.opencontainers.image.ref.name", "")
        if ref_name and (":" in ref_name or "/" in ref_name):
            name = ref_name
    if not name:
        return []
    try:
        return [str(reference.parse_normalized(name))]
    except InvalidArgument:
        return []


def _pick_platform(dest: str, index: oci_manifest.Index) -> oci_manifest.Manifest:
    _, arch, _ = imageconfig.host_platform()
    candidates = [d for d in index.manifests if mt.is_manifest(d.media_type) or not d.media_type]
    best = [d for d in candidates if (d.platform or {}).get("architecture") == arch
            and (d.platform or {}).get("os", "linux") == "linux"]
    for desc in best + candidates:
        if _exists(dest, _blob(desc.digest)):
            doc = oci_manifest.parse(_read(dest, _blob(desc.digest)), desc.media_type)
            if isinstance(doc, oci_manifest.Manifest):
                return doc
    raise InvalidArgument("invalid OCI layout: no manifest for this platform")


def _load_entry(svc, dest: str, entry: _Entry) -> tuple[str, list[tuple[str, str]]]:
    raw = imageconfig.parse_config(entry.config)
    diffs = imageconfig.diff_ids(raw)
    if len(diffs) != len(entry.layers):
        raise InvalidArgument(
            f"invalid manifest, layers length mismatch: expected {len(diffs)}, got {len(entry.layers)}"
        )
    chains = imageconfig.chain_ids(diffs)
    parent = None
    for i, (layer_path, diff_id) in enumerate(zip(entry.layers, diffs)):
        if not svc.unpacker.have_layers(diffs[: i + 1]):
            with _open(dest, layer_path) as f:
                res = svc.unpacker.unpack(parent, f)
            if res.diff_id != diff_id:
                raise InvalidArgument(
                    f"invalid diffID for layer {i}: expected {diff_id!r}, got {res.diff_id!r}"
                )
        parent = chains[i]
    return svc.add_image(entry.config, tuple(entry.names))


def load(svc, fileobj: BinaryIO, quiet: bool = False) -> list[str]:
    """Load every image of the archive. Returns Docker's message lines.

    Raises:
        InvalidArgument: not an image archive, unsafe paths, or layer digest mismatch.
    """
    tmp_root = os.path.join(svc.root, "tmp")
    os.makedirs(tmp_root, exist_ok=True)
    dest = tempfile.mkdtemp(prefix="load-", dir=tmp_root)
    try:
        _extract(fileobj, dest)
        if _exists(dest, "manifest.json"):
            entries = _docker_entries(dest)
        elif _exists(dest, "index.json"):
            entries = _oci_entries(dest)
        else:
            raise InvalidArgument("invalid archive: neither manifest.json nor index.json found")
        lines = []
        for entry in entries:
            image_id, moved = _load_entry(svc, dest, entry)
            for name, old in moved:
                lines.append(f"The image {reference.parse(name).familiar()} already exists, "
                             f"renaming the old one with ID {old} to empty string")
            if entry.names:
                lines.extend(f"Loaded image: {reference.parse(n).familiar()}" for n in entry.names)
            else:
                lines.append(f"Loaded image ID: {image_id}")
        return lines
    finally:
        shutil.rmtree(dest, ignore_errors=True)
