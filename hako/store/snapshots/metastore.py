"""Snapshot bookkeeping in sqlite: ids, keys/names, kinds, parents, labels.

Schema (version 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)          -- schema_version
    snapshots(id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE, kind TEXT,
              parent TEXT, labels TEXT (JSON), created REAL, updated REAL)

Every mutation runs in one transaction together with the directory rename it guards.
Layer 3. May import: errors, store.snapshots.base.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hako.errors import AlreadyExists, Conflict
from hako.support.sqlitedb import Database
from hako.store.snapshots.base import Info, Kind, not_found

SCHEMA_VERSION = 1
_MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE IF NOT EXISTS snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, kind TEXT NOT NULL,
        parent TEXT NOT NULL DEFAULT '', labels TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL, updated REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
    """,
]


@dataclass(frozen=True)
class Record:
    id: int
    info: Info


class MetaStore:
    def __init__(self, path: str) -> None:
        self._database = Database(path, _MIGRATIONS, "snapshot metadata")
        self._db = self._database.conn
        self._lock = self._database.lock

    def _tx(self):
        return self._database.transaction()

    @staticmethod
    def _record(row) -> Record:
        sid, key, kind, parent, labels, created, updated = row
        return Record(sid, Info(key, Kind(kind), parent, json.loads(labels), created, updated))

    def get(self, key: str) -> Record:
        rows = self._database.query(
            "SELECT id, key, kind, parent, labels, created, updated FROM snapshots WHERE key=?", (key,))
        if not rows:
            raise not_found(key)
        return self._record(rows[0])

    def exists(self, key: str) -> bool:
        return bool(self._database.query("SELECT 1 FROM snapshots WHERE key=?", (key,)))

    def ids(self) -> list[int]:
        return [r[0] for r in self._database.query("SELECT id FROM snapshots")]

    def walk(self) -> Iterator[Info]:
        rows = self._database.query(
            "SELECT id, key, kind, parent, labels, created, updated FROM snapshots ORDER BY id")
        for row in rows:
            yield self._record(row).info

    def create(self, key: str, kind: Kind, parent: str, labels: dict,
               finish: Callable[[int], None]) -> int:
        now = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM snapshots WHERE key=?", (key,)).fetchone():
                raise AlreadyExists(f"snapshot {key}: already exists")
            if parent and not db.execute(
                "SELECT 1 FROM snapshots WHERE key=? AND kind='committed'", (parent,)
            ).fetchone():
                raise not_found(parent)
            cur = db.execute(
                "INSERT INTO snapshots (key, kind, parent, labels, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, kind.value, parent, json.dumps(labels), now, now),
            )
            sid = int(cur.lastrowid)
            finish(sid)
            return sid

    def commit(self, name: str, key: str, labels: dict | None) -> None:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM snapshots WHERE key=?", (name,)).fetchone():
                raise AlreadyExists(f"snapshot {name}: already exists")
            row = db.execute("SELECT labels FROM snapshots WHERE key=?", (key,)).fetchone()
            if row is None:
                raise not_found(key)
            merged = json.loads(row[0])
            merged.update(labels or {})
            db.execute(
                "UPDATE snapshots SET key=?, kind='committed', labels=?, updated=? WHERE key=?",
                (name, json.dumps(merged), time.time(), key),
            )

    def remove(self, key: str, finish: Callable[[], None]) -> None:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM snapshots WHERE key=?", (key,)).fetchone() is None:
                raise not_found(key)
            if db.execute("SELECT 1 FROM snapshots WHERE parent=? LIMIT 1", (key,)).fetchone():
                raise Conflict(f"cannot remove snapshot {key} with child: failed precondition")
            db.execute("DELETE FROM snapshots WHERE key=?", (key,))
            finish()

    def close(self) -> None:
        self._database.close()
