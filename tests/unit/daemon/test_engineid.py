"""The engine ID of /info: a UUID made once per data root and kept."""

import uuid

from hako.daemon import engineid


def test_made_once_and_kept(tmp_path):
    first = engineid.load_or_create(str(tmp_path))
    assert str(uuid.UUID(first)) == first
    assert engineid.load_or_create(str(tmp_path)) == first
    assert (tmp_path / "engine-id").read_text() == first
    assert (tmp_path / "engine-id").stat().st_mode & 0o777 == 0o600


def test_a_damaged_file_is_replaced(tmp_path):
    (tmp_path / "engine-id").write_text("garbage")
    value = engineid.load_or_create(str(tmp_path))
    assert uuid.UUID(value) and (tmp_path / "engine-id").read_text() == value
