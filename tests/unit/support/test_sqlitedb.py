"""support.sqlitedb: migrations run once, in order; a newer schema is refused; rollback."""

import pytest

from hako.errors import Internal
from hako.support.sqlitedb import Database

MIGRATIONS = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y TEXT); INSERT INTO b VALUES ('v2')"]


def test_migrations_apply_once_and_record_version(tmp_path):
    path = str(tmp_path / "m.db")
    db = Database(path, MIGRATIONS[:1], "test")
    db.close()
    db = Database(path, MIGRATIONS, "test")
    assert db.query("SELECT value FROM meta WHERE key='schema_version'") == [("2",)]
    assert db.query("SELECT y FROM b") == [("v2",)]
    db.close()
    db = Database(path, MIGRATIONS, "test")  # reopening runs nothing again
    assert db.query("SELECT count(*) FROM b") == [(1,)]
    db.close()
    with pytest.raises(Internal, match="test schema 2 is newer than 1"):
        Database(path, MIGRATIONS[:1], "test")


def test_transaction_rolls_back_on_error(tmp_path):
    db = Database(str(tmp_path / "t.db"), MIGRATIONS, "test")
    with pytest.raises(RuntimeError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO a VALUES (1)")
            raise RuntimeError("boom")
    assert db.query("SELECT count(*) FROM a") == [(0,)]
    with db.transaction() as conn:
        conn.execute("INSERT INTO a VALUES (2)")
    assert db.query("SELECT x FROM a") == [(2,)]


def test_reads_do_not_wait_for_a_writer(tmp_path):
    """A query from another thread answers (with the last commit) while a writer holds its
    transaction; the writer's own reads see its uncommitted rows."""
    import threading

    db = Database(str(tmp_path / "r.db"), MIGRATIONS, "test")
    with db.transaction() as conn:
        conn.execute("INSERT INTO a VALUES (1)")
    seen: list = []
    with db.transaction() as conn:
        conn.execute("INSERT INTO a VALUES (2)")
        assert db.query("SELECT x FROM a ORDER BY x") == [(1,), (2,)]  # own transaction
        reader = threading.Thread(target=lambda: seen.append(db.query("SELECT x FROM a ORDER BY x")))
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "the read waited for the write lock"
    assert seen == [[(1,)]]
    assert db.query("SELECT x FROM a ORDER BY x") == [(1,), (2,)]
    db.close()


def test_idle_memory_is_released_and_queries_go_on(tmp_path):
    """``release_idle_memory`` closes the idle readers of every open database (the next
    query opens one again); a writer holding its transaction is not waited for."""
    import threading

    from hako.support import sqlitedb

    db = Database(str(tmp_path / "r.db"), MIGRATIONS, "test")
    assert db.conn.execute("PRAGMA cache_size").fetchone() == (-sqlitedb.CACHE_KIB,)
    assert db.query("SELECT y FROM b") == [("v2",)]
    idle = list(db._readers)
    assert len(idle) == 1 and idle[0].execute("PRAGMA cache_size").fetchone() == (-sqlitedb.CACHE_KIB,)
    sqlitedb.release_idle_memory()
    assert db._readers == []
    with pytest.raises(Exception, match="closed"):
        idle[0].execute("SELECT 1")
    assert db.query("SELECT y FROM b") == [("v2",)]  # a new reader
    held, done = threading.Event(), threading.Event()

    def writer():
        with db.transaction() as conn:
            conn.execute("INSERT INTO a VALUES (3)")
            held.set()
            done.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(10)
        db.release_memory()  # returns although the writer holds the lock
        assert db._readers == []
    finally:
        done.set()
        t.join()
    assert db.query("SELECT x FROM a") == [(3,)]
    db.close()
    db.release_memory()  # a closed database: nothing to do
