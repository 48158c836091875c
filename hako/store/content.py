"""Content store: content-addressed blobs, written through ingests and verified on commit.

Roles (containerd's split): ``Provider`` (read by digest), ``Ingester`` (``writer(ref)``),
``IngestManager`` (status/abort of in-flight writes), ``Manager`` (info/walk/delete).

Lifecycle: ``w = store.writer(ref, expected)`` → ``w.write(chunk)``… → ``w.commit()``.
Content becomes visible only after commit: the ingest data is fsynced, its digest verified
(a mismatch raises and commits nothing), then renamed into ``blobs/``. Ingests survive a
restart (resumable by ref); ``abort(ref)`` throws one away.

On-disk layout (under ``root``, typically ``<data-root>/content``)::

    blobs/sha256/<hex>          committed blobs, read-only (0444)
    ingest/<sha256(ref)>/ref    the ingest's ref string
    ingest/<sha256(ref)>/data   bytes written so far
    ingest/<sha256(ref)>/lock   flock held by the active writer

Layer 3. May import: errors, support, oci.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from hako.errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable
from hako.oci.digest import Digest, Digester
from hako.support.atomicfile import fsync_dir


@dataclass(frozen=True)
class Info:
    digest: Digest
    size: int


@dataclass(frozen=True)
class IngestStatus:
    ref: str
    offset: int


class Provider(Protocol):
    def open(self, digest: Digest) -> BinaryIO: ...
    def read_bytes(self, digest: Digest) -> bytes: ...


class Ingester(Protocol):
    def writer(self, ref: str, expected: Digest | None = None) -> "Writer": ...


class IngestManager(Protocol):
    def status(self, ref: str) -> IngestStatus: ...
    def abort(self, ref: str) -> None: ...


class Manager(Protocol):
    def info(self, digest: Digest) -> Info: ...
    def walk(self) -> Iterator[Info]: ...
    def delete(self, digest: Digest) -> None: ...


class ContentStore(Provider, Ingester, IngestManager, Manager, Protocol):
    """All four roles."""


class Writer:
    """An open ingest. Use as a context manager: leaving without commit keeps the ingest."""

    def __init__(self, store: "LocalContentStore", ref: str, expected: Digest | None) -> None:
        self._store = store
        self.ref = ref
        self.expected = expected
        self._dir = store._ingest_dir(ref)
        os.makedirs(self._dir, exist_ok=True)
        self._lock = open(os.path.join(self._dir, "lock"), "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise Unavailable(f"ref {ref} locked: unavailable") from exc
        with open(os.path.join(self._dir, "ref"), "w") as f:
            f.write(ref)
        self._data = open(os.path.join(self._dir, "data"), "ab+")
        self._digester = Digester()
        self._data.seek(0)
        while chunk := self._data.read(1 << 20):  # resume: rehash what is already there
            self._digester.update(chunk)

    @property
    def offset(self) -> int:
        return self._digester.size

    def write(self, data: bytes) -> int:
        self._data.write(data)
        self._digester.update(data)
        return len(data)

    def commit(self, expected: Digest | None = None, size: int | None = None) -> Digest:
        """Verify and publish the content.

        Raises:
            FailedPrecondition: the digest or size differs (the ingest is discarded).
        """
        expected = expected or self.expected
        self._data.flush()
        os.fsync(self._data.fileno())
        actual = self._digester.digest()
        if (expected is not None and actual != expected) or (
            size is not None and size >= 0 and size != self._digester.size
        ):
            self.close()
            self._store.abort(self.ref)
            raise FailedPrecondition(
                f"unexpected commit digest {actual}, expected {expected}: failed precondition"
            )
        target = self._store.path(actual)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        data_path = os.path.join(self._dir, "data")
        os.chmod(data_path, 0o444)
        if os.path.exists(target):
            self.close()
            self._store.abort(self.ref)
            return actual
        os.rename(data_path, target)
        fsync_dir(os.path.dirname(target))
        self.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        return actual

    @property
    def closed(self) -> bool:
        return self._data.closed

    def flush(self) -> None:
        """Write buffered bytes to the ingest file (its size is then ``offset``)."""
        self._data.flush()

    def close(self) -> None:
        if not self._data.closed:
            self._data.close()
        if not self._lock.closed:
            self._lock.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalContentStore:
    """The content store on the local filesystem (see the module docstring)."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
        os.makedirs(os.path.join(root, "ingest"), exist_ok=True)

    def path(self, digest: Digest) -> str:
        return os.path.join(self.root, "blobs", digest.algorithm, digest.hex)

    def _ingest_dir(self, ref: str) -> str:
        return os.path.join(self.root, "ingest", hashlib.sha256(ref.encode()).hexdigest())

    # Provider
    def open(self, digest: Digest) -> BinaryIO:
        """Open a committed blob.

        Raises:
            NotFound: no such blob.
        """
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"content digest {digest}: not found") from exc

    def read_bytes(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def exists(self, digest: Digest) -> bool:
        return os.path.exists(self.path(digest))

    # Ingester
    def writer(self, ref: str, expected: Digest | None = None) -> Writer:
        """Open (or resume) the ingest ``ref``.

        Raises:
            AlreadyExists: ``expected`` is already committed.
            Unavailable: another writer holds ``ref``.
        """
        if expected is not None and self.exists(expected):
            raise AlreadyExists(f"content {expected}: already exists")
        return Writer(self, ref, expected)

    def put_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        """Store ``data`` (idempotent) and return its digest."""
        digest = Digest.from_bytes(data)
        if self.exists(digest):
            if expected is not None and expected != digest:
                raise FailedPrecondition(
                    f"unexpected commit digest {digest}, expected {expected}: failed precondition"
                )
            return digest
        with self.writer(f"put-{digest}-{os.getpid()}-{id(data)}") as w:
            w.write(data)
            return w.commit(expected)

    def ingest(self, fileobj: BinaryIO, ref: str, expected: Digest | None = None) -> Info:
        """Copy a stream into the store and commit it."""
        with Writer(self, ref, expected) as w:
            while chunk := fileobj.read(1 << 20):
                w.write(chunk)
            size = w.offset
            return Info(w.commit(expected), size)

    # IngestManager
    def status(self, ref: str) -> IngestStatus:
        data = os.path.join(self._ingest_dir(ref), "data")
        try:
            return IngestStatus(ref, os.path.getsize(data))
        except FileNotFoundError as exc:
            raise NotFound(f"ingest {ref}: not found") from exc

    def abort(self, ref: str) -> None:
        shutil.rmtree(self._ingest_dir(ref), ignore_errors=True)

    def ingests(self) -> list[IngestStatus]:
        out = []
        base = os.path.join(self.root, "ingest")
        for name in sorted(os.listdir(base)):
            try:
                with open(os.path.join(base, name, "ref")) as f:
                    ref = f.read()
                out.append(self.status(ref))
            except (FileNotFoundError, NotFound):
                continue
        return out

    def remove_incomplete_ingests(self) -> list[str]:
        """Remove ingest directories a crash left without their ``ref`` file, with a partly
        written one (killed between making the directory and naming it), or without their
        ``data`` file (killed between naming it and opening the data; ``ingests`` does not
        list those); returns their names."""
        base = os.path.join(self.root, "ingest")
        removed = []
        for name in sorted(os.listdir(base)):
            try:
                with open(os.path.join(base, name, "ref")) as f:
                    ref = f.read()
            except OSError:
                ref = None
            if ref is None or self._ingest_dir(ref) != os.path.join(base, name) or \
                    not os.path.exists(os.path.join(base, name, "data")):
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
                removed.append(name)
        return removed

    # Manager
    def info(self, digest: Digest) -> Info:
        try:
            return Info(digest, os.path.getsize(self.path(digest)))
        except FileNotFoundError as exc:
            raise NotFound(f"content digest {digest}: not found") from exc

    def walk(self) -> Iterator[Info]:
        base = os.path.join(self.root, "blobs")
        for alg in sorted(os.listdir(base)):
            for hexpart in sorted(os.listdir(os.path.join(base, alg))):
                try:
                    yield Info(Digest(alg, hexpart), os.path.getsize(os.path.join(base, alg, hexpart)))
                except (ValueError, OSError, Exception):  # foreign files are skipped
                    continue

    def delete(self, digest: Digest) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError as exc:
            raise NotFound(f"content digest {digest}: not found") from exc
