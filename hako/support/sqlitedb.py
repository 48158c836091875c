"""A small sqlite3 wrapper for the daemon's metadata databases: WAL journal, full sync,
one connection shared by threads under a lock, atomic transactions, and an ordered list of
schema migrations recorded in a ``meta`` table (``schema_version``).

Layer: support (1). May import: errors.
"""

from __future__ import annotations

import sqlite3
import threading

from hako.errors import Internal


class Database:
    """One sqlite file. ``with db.transaction() as conn:`` is one atomic write."""

    def __init__(self, path: str, migrations: list[str], what: str) -> None:
        """Open ``path`` and bring its schema up to ``len(migrations)``.

        Raises:
            Internal: the file's schema is newer than this code knows.
        """
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.lock = threading.RLock()
        self._migrate(migrations, what)

    def _migrate(self, migrations: list[str], what: str) -> None:
        with self.lock:
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > len(migrations):
                raise Internal(f"{what} schema {version} is newer than {len(migrations)}")
            for i in range(version, len(migrations)):
                with self.transaction() as db:
                    for stmt in migrations[i].split(";"):
                        if stmt.strip():
                            db.execute(stmt)
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(i + 1),))

    def transaction(self) -> "Transaction":
        return Transaction(self.conn, self.lock)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception), holding the database lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self.conn, self.lock = conn, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
