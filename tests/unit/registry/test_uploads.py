"""Upload sessions' writers kept open between requests (registry/server/uploads.py), through
the registry storage: a session's PATCHes and PUT go on with the same writer (no re-read of
what was uploaded), a restart resumes from disk, one request at a time, cancel closes."""

from __future__ import annotations

import hashlib
import os

import pytest

from hako.oci.digest import Digest
from hako.registry.protocol import RegistryError
from hako.registry.server.storage import Storage
from hako.registry.server.uploads import InUse, OpenWriters
from hako.store.content import Writer


def _digest(data: bytes) -> Digest:
    return Digest.parse("sha256:" + hashlib.sha256(data).hexdigest())


def _patch(st: Storage, upload_id: str, data: bytes) -> Writer:
    with st.open_upload("x/y", upload_id) as w:
        st.append(w, [data])
        return w


def test_session_keeps_one_writer_across_requests(tmp_path, monkeypatch):
    st = Storage(str(tmp_path))
    upload_id = st.start_upload("x/y")
    opened: list[str] = []
    real = Writer.__init__

    def counting(self, *a, **kw):
        opened.append(a[1])
        real(self, *a, **kw)

    monkeypatch.setattr(Writer, "__init__", counting)
    w1 = _patch(st, upload_id, b"a" * 1000)
    assert st.upload_offset("x/y", upload_id) == 1000  # flushed: the ingest's size is the offset
    w2 = _patch(st, upload_id, b"b" * 500)
    assert w1 is w2 and opened == []  # the writer start_upload made, never re-opened
    with st.open_upload("x/y", upload_id) as w:
        st.finish_upload("x/y", upload_id, w, _digest(b"a" * 1000 + b"b" * 500))
    f, size = st.open_blob("x/y", _digest(b"a" * 1000 + b"b" * 500))
    with f:
        assert size == 1500 and f.read() == b"a" * 1000 + b"b" * 500
    with pytest.raises(RegistryError) as exc:  # published: the session is gone
        st.upload_offset("x/y", upload_id)
    assert exc.value.code == "BLOB_UPLOAD_UNKNOWN"


def test_restart_resumes_from_disk(tmp_path):
    st = Storage(str(tmp_path))
    upload_id = st.start_upload("x/y")
    _patch(st, upload_id, b"first-")
    st.writers.drop(st._upload_ref("x/y", upload_id))  # as if the process had stopped
    st2 = Storage(str(tmp_path))
    _patch(st2, upload_id, b"second")
    with st2.open_upload("x/y", upload_id) as w:
        assert w.offset == 12
        st2.finish_upload("x/y", upload_id, w, _digest(b"first-second"))
    assert st2.content.read_bytes(_digest(b"first-second")) == b"first-second"


def test_wrong_digest_discards_and_failed_request_closes(tmp_path):
    st = Storage(str(tmp_path))
    upload_id = st.start_upload("x/y")

    def broken():
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        with st.open_upload("x/y", upload_id) as w:
            st.append(w, broken())
    assert w.closed  # a failed request's writer is not kept
    with pytest.raises(RegistryError) as exc:
        with st.open_upload("x/y", upload_id) as w:
            st.finish_upload("x/y", upload_id, w, _digest(b"something else"))
    assert exc.value.code == "DIGEST_INVALID"
    assert not st.content.exists(_digest(b"partial"))
    assert os.listdir(os.path.join(str(tmp_path), "content", "ingest")) == []


def test_one_request_at_a_time_and_cancel(tmp_path):
    st = Storage(str(tmp_path))
    upload_id = st.start_upload("x/y")
    with st.open_upload("x/y", upload_id) as w:
        with pytest.raises(RegistryError) as exc:
            with st.open_upload("x/y", upload_id):
                pass
        assert exc.value.code == "BLOB_UPLOAD_INVALID"
        st.cancel_upload("x/y", upload_id)  # while in use: closed when given back
    assert w.closed
    with pytest.raises(RegistryError):
        st.upload_offset("x/y", upload_id)


def test_idle_writers_are_bounded(tmp_path):
    st = Storage(str(tmp_path))
    st.writers.max_idle = 2
    ids = [st.start_upload("x/y") for _ in range(3)]
    refs = [st._upload_ref("x/y", i) for i in ids]
    assert list(st.writers._idle) == refs[1:]  # the oldest was closed
    _patch(st, ids[0], b"still works")  # re-opened from disk
    assert st.upload_offset("x/y", ids[0]) == len(b"still works")


def test_open_writers_in_use():
    ow = OpenWriters()

    class FakeWriter:
        closed = False

        def flush(self):
            pass

        def close(self):
            self.closed = True

    w = ow.take("r", lambda ref: FakeWriter())
    with pytest.raises(InUse):
        ow.take("r", lambda ref: FakeWriter())
    ow.give_back("r", w, keep=True)
    assert ow.take("r", lambda ref: pytest.fail("re-opened")) is w
    ow.give_back("r", w, keep=False)
    assert w.closed
