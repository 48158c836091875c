"""Image metadata in sqlite: images, names (references) → image ids, layers, leases later.

Schema (version 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)        -- schema_version
    images(id TEXT PRIMARY KEY,                   -- "sha256:<config digest hex>"
           manifest TEXT NOT NULL DEFAULT '',     -- manifest digest in content, if any
           parent TEXT NOT NULL DEFAULT '',       -- parent image id (docker commit/build)
           created REAL NOT NULL,                 -- when added to this store
           last_tag_time TEXT NOT NULL DEFAULT '')
    names(name TEXT PRIMARY KEY,                  -- full normalized reference
          image_id TEXT NOT NULL, created REAL NOT NULL)
    layers(diff_id TEXT PRIMARY KEY,              -- uncompressed layer digest
           blob TEXT NOT NULL,                    -- content digest of the stored layer tar
           media_type TEXT NOT NULL, size INTEGER NOT NULL)  -- unpacked size
    -- version 2: compressed blobs of layers, as pulled (digest-verified, with the
    -- registry and repository they came from) or as compressed here for a push
    distribution(digest TEXT, diff_id TEXT NOT NULL, media_type TEXT NOT NULL,
                 size INTEGER NOT NULL, registry TEXT NOT NULL, repository TEXT NOT NULL,
                 PRIMARY KEY (digest, registry, repository))

Every write is a single sqlite transaction (WAL, synchronous=FULL), so a crash leaves
either the old or the new state. Migrations are an ordered list of scripts.

Layer 3. May import: errors, support.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from hako.support.sqlitedb import Database, Transaction

SCHEMA_VERSION = 2
_MIGRATIONS = [
    """
    CREATE TABLE images (id TEXT PRIMARY KEY, manifest TEXT NOT NULL DEFAULT '',
        parent TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
        last_tag_time TEXT NOT NULL DEFAULT '');
    CREATE TABLE names (name TEXT PRIMARY KEY, image_id TEXT NOT NULL, created REAL NOT NULL);
    CREATE INDEX names_image ON names(image_id);
    CREATE TABLE layers (diff_id TEXT PRIMARY KEY, blob TEXT NOT NULL,
        media_type TEXT NOT NULL, size INTEGER NOT NULL)
    """,
    """
    CREATE TABLE distribution (digest TEXT NOT NULL, diff_id TEXT NOT NULL,
        media_type TEXT NOT NULL, size INTEGER NOT NULL, registry TEXT NOT NULL,
        repository TEXT NOT NULL, PRIMARY KEY (digest, registry, repository));
    CREATE INDEX distribution_diff ON distribution(diff_id)
    """,
]


@dataclass(frozen=True)
class ImageRecord:
    id: str
    manifest: str
    parent: str
    created: float
    last_tag_time: str


@dataclass(frozen=True)
class LayerRecord:
    diff_id: str
    blob: str
    media_type: str
    size: int


@dataclass(frozen=True)
class DistributionRecord:
    digest: str
    diff_id: str
    media_type: str
    size: int
    registry: str  # "" for a blob compressed here
    repository: str


class MetadataStore:
    """Image and name bookkeeping. Thread-safe; one connection guarded by a lock."""

    def __init__(self, path: str) -> None:
        self._database = Database(path, _MIGRATIONS, "image metadata")
        self._db = self._database.conn
        self._lock = self._database.lock

    def transaction(self) -> Transaction:
        """``with store.transaction() as db:`` — one atomic write."""
        return self._database.transaction()

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._database.query(sql, args)  # no write lock: see support.sqlitedb

    # images
    def add_image(self, image_id: str, manifest: str = "", parent: str = "",
                  names: tuple[str, ...] = (), tag_time: str = "") -> list[tuple[str, str]]:
        """Record an image (idempotent) and point ``names`` at it, atomically.

        Returns:
            (name, previous image id) for every name that moved away from another image.
        """
        moved = []
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO images (id, manifest, parent, created) VALUES (?, ?, ?, ?)",
                (image_id, manifest, parent, time.time()),
            )
            if manifest:
                db.execute("UPDATE images SET manifest=? WHERE id=?", (manifest, image_id))
            for name in names:
                prev = self._set_name(db, name, image_id)
                if prev and prev != image_id:
                    moved.append((name, prev))
            if names and tag_time:
                db.execute("UPDATE images SET last_tag_time=? WHERE id=?", (tag_time, image_id))
        return moved

    @staticmethod
    def _set_name(db: sqlite3.Connection, name: str, image_id: str) -> str | None:
        row = db.execute("SELECT image_id FROM names WHERE name=?", (name,)).fetchone()
        db.execute(
            "INSERT OR REPLACE INTO names (name, image_id, created) VALUES (?, ?, ?)",
            (name, image_id, time.time()),
        )
        return row[0] if row else None

    def get_image(self, image_id: str) -> ImageRecord | None:
        rows = self._query(
            "SELECT id, manifest, parent, created, last_tag_time FROM images WHERE id=?", (image_id,)
        )
        return ImageRecord(*rows[0]) if rows else None

    def images(self) -> list[ImageRecord]:
        rows = self._query("SELECT id, manifest, parent, created, last_tag_time FROM images")
        return [ImageRecord(*r) for r in rows]

    def children(self, image_id: str) -> list[str]:
        return [r[0] for r in self._query("SELECT id FROM images WHERE parent=?", (image_id,))]

    def delete_image(self, image_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM names WHERE image_id=?", (image_id,))
            db.execute("DELETE FROM images WHERE id=?", (image_id,))

    # names
    def set_name(self, name: str, image_id: str, tag_time: str = "") -> str | None:
        """Point ``name`` at ``image_id``; returns the image it pointed at before."""
        with self.transaction() as db:
            prev = self._set_name(db, name, image_id)
            if tag_time:
                db.execute("UPDATE images SET last_tag_time=? WHERE id=?", (tag_time, image_id))
            return prev

    def remove_name(self, name: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM names WHERE name=?", (name,)).rowcount > 0

    def resolve(self, name: str) -> str | None:
        rows = self._query("SELECT image_id FROM names WHERE name=?", (name,))
        return rows[0][0] if rows else None

    def names_of(self, image_id: str) -> list[str]:
        """Names of an image, oldest first."""
        rows = self._query(
            "SELECT name FROM names WHERE image_id=? ORDER BY created, name", (image_id,)
        )
        return [r[0] for r in rows]

    def all_names(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, image_id in self._query("SELECT name, image_id FROM names ORDER BY created, name"):
            out.setdefault(image_id, []).append(name)
        return out

    # layers
    def add_layer(self, diff_id: str, blob: str, media_type: str, size: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO layers (diff_id, blob, media_type, size) VALUES (?, ?, ?, ?)",
                (diff_id, blob, media_type, size),
            )

    def get_layer(self, diff_id: str) -> LayerRecord | None:
        rows = self._query(
            "SELECT diff_id, blob, media_type, size FROM layers WHERE diff_id=?", (diff_id,)
        )
        return LayerRecord(*rows[0]) if rows else None

    def layer_ids(self) -> list[str]:
        return [r[0] for r in self._query("SELECT diff_id FROM layers")]

    def remove_layer(self, diff_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM layers WHERE diff_id=?", (diff_id,))

    # distribution (compressed blobs of layers)
    def add_distribution(self, rec: "DistributionRecord") -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO distribution (digest, diff_id, media_type, size, registry,"
                " repository) VALUES (?, ?, ?, ?, ?, ?)",
                (rec.digest, rec.diff_id, rec.media_type, rec.size, rec.registry, rec.repository),
            )

    def distribution_of(self, diff_id: str) -> list["DistributionRecord"]:
        rows = self._query(
            "SELECT digest, diff_id, media_type, size, registry, repository FROM distribution"
            " WHERE diff_id=? ORDER BY registry, repository", (diff_id,))
        return [DistributionRecord(*r) for r in rows]

    def distribution_digests(self) -> list[tuple[str, str]]:
        """(digest, diff_id) of every distribution record."""
        return [(r[0], r[1]) for r in self._query("SELECT digest, diff_id FROM distribution")]

    def remove_distribution(self, digest: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM distribution WHERE digest=?", (digest,))

    def close(self) -> None:
        self._database.close()
