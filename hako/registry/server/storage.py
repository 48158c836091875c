"""Registry storage: repositories over one content store, crash-safe.

On-disk layout (under ``root``)::

    content/blobs/sha256/<hex>                        every blob and manifest, verified
    content/ingest/<sha256(ref)>/                     upload sessions (ref ``upload-<uuid>``)
    repositories/<name>/_layers/sha256/<hex>          the blob is linked into the repository
    repositories/<name>/_manifests/revisions/sha256/<hex>   the manifest's media type
    repositories/<name>/_manifests/tags/<tag>         the digest the tag points at
    repositories/<name>/_referrers/sha256/<subject-hex>/sha256/<hex>
                                                      descriptor (JSON) of a manifest whose
                                                      ``subject`` is that digest (referrers API)

An upload lives only in its ingest directory until its final PUT: the data is fsynced,
digest-verified and renamed into ``blobs/`` (``LocalContentStore``), then linked. A crash
at any point leaves either no visible blob or a complete one. Links and tags are written
temp → fsync → rename. Layer 4. May import: errors, support, oci, store, registry.protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from typing import BinaryIO, Iterable

from hako.oci.digest import Digest
from hako.registry.protocol import RegistryError
from hako.registry.server.uploads import OpenWriters
from hako.store.content import LocalContentStore, Writer
from hako.support import atomicfile


def write_bytes(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomicfile.write_bytes(path, data)

NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
UUID_RE = re.compile(r"^[0-9a-f-]{36}$")


def parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except Exception:
        raise RegistryError("DIGEST_INVALID", "invalid digest", text) from None


class Storage:
    """Repositories, blobs, uploads and manifests (see the module docstring)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.content = LocalContentStore(os.path.join(root, "content"))
        os.makedirs(os.path.join(root, "repositories"), exist_ok=True)
        self.writers = OpenWriters()  # upload sessions' writers between requests

    def _repo(self, name: str) -> str:
        if not NAME_RE.match(name) or len(name) > 255:
            raise RegistryError("NAME_INVALID", detail={"name": name})
        return os.path.join(self.root, "repositories", name)

    def _link(self, name: str, kind: str, digest: Digest) -> str:
        return os.path.join(self._repo(name), kind, digest.algorithm, digest.hex)

    # -- blobs -------------------------------------------------------------------------------
    def blob_size(self, name: str, digest: Digest) -> int:
        """Size of a blob linked into ``name``.

        Raises:
            RegistryError: BLOB_UNKNOWN.
        """
        linked = os.path.exists(self._link(name, "_layers", digest)) or os.path.exists(
            self._link(name, "_manifests/revisions", digest))
        if not linked or not self.content.exists(digest):
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)})
        return self.content.info(digest).size

    def open_blob(self, name: str, digest: Digest) -> tuple[BinaryIO, int]:
        size = self.blob_size(name, digest)
        return self.content.open(digest), size

    def link_blob(self, name: str, digest: Digest) -> None:
        write_bytes(self._link(name, "_layers", digest), b"")

    def unlink_blob(self, name: str, digest: Digest) -> None:
        try:
            os.unlink(self._link(name, "_layers", digest))
        except FileNotFoundError:
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)}) from None

    def mount(self, name: str, source: str, digest: Digest) -> bool:
        """Cross-repository mount: link ``digest`` from ``source`` into ``name`` if there."""
        try:
            self.blob_size(source, digest)
        except RegistryError:
            return False
        self.link_blob(name, digest)
        return True

    # -- uploads -----------------------------------------------------------------------------
    def start_upload(self, name: str) -> str:
        self._repo(name)
        upload_id = str(uuid.uuid4())
        ref = self._upload_ref(name, upload_id)
        self.writers.give_back(ref, self.writers.take(ref, self.content.writer), keep=True)
        return upload_id

    @staticmethod
    def _upload_ref(name: str, upload_id: str) -> str:
        return f"upload-{name}-{upload_id}"

    def upload_offset(self, name: str, upload_id: str) -> int:
        if not UUID_RE.match(upload_id):
            raise RegistryError("BLOB_UPLOAD_UNKNOWN")
        try:
            return self.content.status(self._upload_ref(name, upload_id)).offset
        except Exception:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", detail={"uuid": upload_id}) from None

    @contextlib.contextmanager
    def open_upload(self, name: str, upload_id: str) -> Iterator[Writer]:
        """The session's writer for one request (kept open for the next one unless the
        request failed; see uploads.py).

        Raises:
            RegistryError: BLOB_UPLOAD_UNKNOWN; BLOB_UPLOAD_INVALID when in use.
        """
        self.upload_offset(name, upload_id)
        ref = self._upload_ref(name, upload_id)
        try:
            writer = self.writers.take(ref, self.content.writer)
        except Exception:
            raise RegistryError("BLOB_UPLOAD_INVALID", "upload in use", {"uuid": upload_id}) from None
        ok = False
        try:
            yield writer
            ok = True
        finally:
            self.writers.give_back(ref, writer, keep=ok)

    def append(self, writer: Writer, chunks: Iterable[bytes]) -> int:
        for chunk in chunks:
            writer.write(chunk)
        return writer.offset

    def finish_upload(self, name: str, upload_id: str, writer: Writer, digest: Digest) -> None:
        """Verify and publish the upload as ``digest`` and link it into ``name``.

        Raises:
            RegistryError: DIGEST_INVALID (the upload is discarded).
        """
        try:
            writer.commit(digest)
        except Exception:
            raise RegistryError("DIGEST_INVALID", detail={"digest": str(digest)}) from None
        self.link_blob(name, digest)

    def cancel_upload(self, name: str, upload_id: str) -> None:
        self.upload_offset(name, upload_id)
        self.writers.drop(self._upload_ref(name, upload_id))
        self.content.abort(self._upload_ref(name, upload_id))

    # -- manifests ---------------------------------------------------------------------------
    def put_manifest(self, name: str, data: bytes, media_type: str, tag: str = "") -> Digest:
        digest = self.content.put_bytes(data)
        write_bytes(self._link(name, "_manifests/revisions", digest), media_type.encode())
        if tag:
            write_bytes(os.path.join(self._repo(name), "_manifests", "tags", tag), str(digest).encode())
        subject, desc = referrer_descriptor(data, media_type, digest)
        if subject is not None:
            write_bytes(self._referrer_link(name, subject, digest), json.dumps(desc).encode())
        return digest

    def _referrer_link(self, name: str, subject: Digest, digest: Digest) -> str:
        return os.path.join(self._repo(name), "_referrers", subject.algorithm, subject.hex,
                            digest.algorithm, digest.hex)

    def referrers(self, name: str, subject: Digest, artifact_type: str = "") -> list[dict]:
        """Descriptors of the manifests in ``name`` whose ``subject`` is ``subject``, sorted by
        digest; only those of ``artifact_type`` when given. An unknown repository or subject
        has none (the referrers API never answers 404)."""
        self._repo(name)  # NAME_INVALID for a malformed name
        base = os.path.join(self.root, "repositories", name, "_referrers", subject.algorithm,
                            subject.hex)
        out = []
        for dirpath, _, files in os.walk(base):
            for fname in sorted(files):
                if fname.startswith("."):
                    continue
                try:
                    with open(os.path.join(dirpath, fname)) as f:
                        desc = json.load(f)
                except (OSError, ValueError):
                    continue
                if not artifact_type or desc.get("artifactType") == artifact_type:
                    out.append(desc)
        return sorted(out, key=lambda d: d["digest"])

    def resolve(self, name: str, reference: str) -> Digest:
        """Digest of a tag or digest reference in ``name``.

        Raises:
            RegistryError: NAME_UNKNOWN, MANIFEST_UNKNOWN, TAG_INVALID.
        """
        repo = self._repo(name)
        if not os.path.isdir(repo):
            raise RegistryError("NAME_UNKNOWN", detail={"name": name})
        if ":" in reference:
            digest = parse_digest(reference)
        else:
            if not TAG_RE.match(reference):
                raise RegistryError("TAG_INVALID", "invalid tag", {"tag": reference})
            try:
                with open(os.path.join(repo, "_manifests", "tags", reference)) as f:
                    digest = Digest.parse(f.read().strip())
            except FileNotFoundError:
                raise RegistryError("MANIFEST_UNKNOWN", detail={"tag": reference}) from None
        if not os.path.exists(self._link(name, "_manifests/revisions", digest)):
            raise RegistryError("MANIFEST_UNKNOWN", detail={"digest": str(digest)})
        return digest

    def get_manifest(self, name: str, reference: str) -> tuple[bytes, str, Digest]:
        digest = self.resolve(name, reference)
        with open(self._link(name, "_manifests/revisions", digest)) as f:
            media_type = f.read()
        return self.content.read_bytes(digest), media_type, digest

    def delete_manifest(self, name: str, reference: str) -> None:
        digest = self.resolve(name, reference)
        tags_dir = os.path.join(self._repo(name), "_manifests", "tags")
        if ":" not in reference:
            os.unlink(os.path.join(tags_dir, reference))
            return
        for tag in self.tags(name):
            try:
                with open(os.path.join(tags_dir, tag)) as f:
                    if f.read().strip() == str(digest):
                        os.unlink(os.path.join(tags_dir, tag))
            except FileNotFoundError:
                pass
        with open(self._link(name, "_manifests/revisions", digest)) as f:
            media_type = f.read()
        subject, _ = referrer_descriptor(self.content.read_bytes(digest), media_type, digest)
        if subject is not None:
            try:
                os.unlink(self._referrer_link(name, subject, digest))
            except FileNotFoundError:
                pass
        os.unlink(self._link(name, "_manifests/revisions", digest))

    def tags(self, name: str) -> list[str]:
        repo = self._repo(name)
        if not os.path.isdir(repo):
            raise RegistryError("NAME_UNKNOWN", detail={"name": name})
        try:
            return sorted(t for t in os.listdir(os.path.join(repo, "_manifests", "tags"))
                          if TAG_RE.match(t))
        except FileNotFoundError:
            return []

    def catalog(self) -> list[str]:
        """Repositories that hold at least one manifest revision, sorted."""
        base = os.path.join(self.root, "repositories")
        out = []
        for dirpath, dirs, _ in os.walk(base):
            if "_manifests" in dirs:
                out.append(os.path.relpath(dirpath, base))
            dirs[:] = [d for d in dirs if not d.startswith("_")]
        return sorted(out)

    def remove_repository_files(self, name: str) -> None:
        shutil.rmtree(self._repo(name), ignore_errors=True)


def referrer_descriptor(data: bytes, media_type: str, digest: Digest) -> tuple[Digest | None, dict]:
    """The subject of a manifest and the descriptor the referrers API lists for it.

    ``artifactType`` is the manifest's own, else (image manifests) its config's media type, as
    the OCI distribution spec v1.1 says. A manifest without a valid ``subject`` gives None.
    """
    try:
        doc = json.loads(data)
        subject = Digest.parse(doc["subject"]["digest"])
    except Exception:  # noqa: BLE001 - no (usable) subject: not a referrer
        return None, {}
    desc: dict = {"mediaType": media_type, "digest": str(digest), "size": len(data)}
    artifact = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType") or ""
    if artifact:
        desc["artifactType"] = artifact
    if doc.get("annotations"):
        desc["annotations"] = doc["annotations"]
    return subject, desc
