"""A small sqlite3 wrapper for the daemon's metadata databases: WAL journal, full sync,
one writing connection shared by threads under a lock, atomic transactions, and an ordered
list of schema migrations recorded in a ``meta`` table (``schema_version``).

Reads (``query``) do not take the write lock: they run on reader connections of a small
pool (``query_only``), and in WAL mode a reader sees the last committed state while a
writer holds its transaction and fsyncs. So a container start reading its snapshot's
mounts never waits for a create, commit or pull writing the same database. A thread inside
a transaction of its own reads on the writing connection (it sees its uncommitted rows).

Layer: support (1). May import: errors.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref

from hako.errors import Internal

CACHE_KIB = 512
_open: weakref.WeakSet = weakref.WeakSet()


def release_idle_memory() -> None:
    """``Database.release_memory`` of every open database."""
    for db in list(_open):
        db.release_memory()


class Database:
    """One sqlite file. ``with db.transaction() as conn:`` is one atomic write."""

    MAX_IDLE_READERS = 4

    def __init__(self, path: str, migrations: list[str], what: str) -> None:
        """Open ``path`` and bring its schema up to ``len(migrations)``.

        Raises:
            Internal: the file's schema is newer than this code knows.
        """
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self.lock = threading.RLock()
        self._writing = threading.local()  # depth of this thread's transactions
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._migrate(migrations, what)
        _open.add(self)

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
        return Transaction(self.conn, self.lock, self._writing)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """One read statement (a consistent snapshot of the last commit), without the
        write lock; on the writing connection inside this thread's own transaction."""
        if getattr(self._writing, "depth", 0):
            with self.lock:
                return self.conn.execute(sql, args).fetchall()
        conn = self._checkout()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            self._checkin(conn)

    def _checkout(self) -> sqlite3.Connection:
        with self._readers_lock:
            if self._readers:
                return self._readers.pop()
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA query_only=ON")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        return conn

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._readers_lock:
            if not self._closed and len(self._readers) < self.MAX_IDLE_READERS:
                self._readers.append(conn)
                return
        conn.close()

    def release_memory(self) -> None:
        """Close the idle readers (the next query opens one again, well under a
        millisecond) and free the writer's unused page cache; never waits for a writer."""
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        if self.lock.acquire(blocking=False):
            try:
                if not self._closed:
                    self.conn.execute("PRAGMA shrink_memory")
            finally:
                self.lock.release()

    def close(self) -> None:
        with self._readers_lock:
            self._closed = True
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        with self.lock:
            self.conn.close()


class Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on an exception), holding the database lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock,
                 writing: threading.local | None = None) -> None:
        self.conn, self.lock = conn, lock
        self.writing = writing if writing is not None else threading.local()

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        self.writing.depth = getattr(self.writing, "depth", 0) + 1
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.writing.depth -= 1
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()
