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
