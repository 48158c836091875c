"""Unit tests for hako.support: ids, units, atomic files."""

import json
import os

import pytest

from hako.errors import AmbiguousPrefix, InvalidArgument
from hako.support import atomicfile, ids, units


def test_new_id_is_64_hex_and_not_numeric_prefix():
    for _ in range(50):
        value = ids.new_id()
        assert ids.is_full_id(value)
        assert not value[:12].isdigit()


def test_match_prefix_unique_ambiguous_and_missing():
    pool = ["abc123" + "0" * 58, "abd456" + "0" * 58]
    assert ids.match_prefix("abc", pool) == pool[0]
    assert ids.match_prefix("zzz", pool) is None
    with pytest.raises(AmbiguousPrefix):
        ids.match_prefix("ab", pool)


def test_random_name_avoids_taken():
    name = ids.random_name()
    assert "_" in name
    assert ids.random_name({name}) != name


@pytest.mark.parametrize(
    "text,expected",
    [("512m", 512 * 1024**2), ("1g", 1024**3), ("1024", 1024), ("6MB", 6 * 1024**2), ("1.5k", 1536)],
)
def test_parse_ram_size(text, expected):
    assert units.parse_ram_size(text) == expected


def test_parse_ram_size_rejects_garbage():
    with pytest.raises(InvalidArgument, match="invalid size: 'lots'"):
        units.parse_ram_size("lots")


@pytest.mark.parametrize("text,expected", [("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("0", 0)])
def test_parse_duration(text, expected):
    assert units.parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text,ns", [
    ("200ms", 200_000_000), ("1.5s", 1_500_000_000), ("1m30s", 90_000_000_000), ("-1s", -10**9),
    ("+2h", 7_200 * 10**9), ("0", 0), (".5s", 500_000_000), ("1us", 1_000), ("3µs", 3_000),
])
def test_parse_go_duration(text, ns):
    assert units.parse_go_duration(text) == ns


@pytest.mark.parametrize("text,message", [
    ("", 'time: invalid duration ""'), ("x", 'time: invalid duration "x"'),
    ("1", 'time: missing unit in duration "1"'), ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("-", 'time: invalid duration "-"'),
])
def test_parse_go_duration_errors_as_go(text, message):
    with pytest.raises(InvalidArgument) as err:
        units.parse_go_duration(text)
    assert str(err.value) == message


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (200_000_000, "200ms"), (1_500_000_000, "1.5s"), (90 * 10**9, "1m30s"),
    (3_600 * 10**9, "1h0m0s"), (30 * 10**9, "30s"), (1_500, "1.5µs"), (-10**9, "-1s"),
])
def test_format_go_duration(ns, text):
    assert units.format_go_duration(ns) == text


def test_human_size():
    assert units.human_size(1_234_567) == "1.23MB"
    assert units.human_size(999) == "999B"


def test_atomic_write_not_durable_replaces_whole_with_mode_and_no_temp_left(tmp_path, monkeypatch):
    target = tmp_path / "hosts"
    target.write_bytes(b"old content, longer than the new one\n")
    (tmp_path / ".tmp-hosts").write_bytes(b"left by a killed writer, longer than the new one")
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    atomicfile.write_bytes(target, b"new\n", mode=0o640, durable=False)
    assert target.read_bytes() == b"new\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts"]
    assert synced == []  # derived files: no fsync
    atomicfile.write_bytes(target, b"durable\n")
    assert len(synced) == 2  # the file and its directory


@pytest.mark.parametrize("durable", [True, False])
def test_atomic_write_that_fails_keeps_the_old_file_and_leaves_no_temp(tmp_path, durable):
    target = tmp_path / "state"
    target.write_bytes(b"old\n")
    with pytest.raises(TypeError):
        atomicfile.write_bytes(target, "not bytes", durable=durable)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_atomic_json_roundtrip(tmp_path):
    target = tmp_path / "state.json"
    atomicfile.write_json(target, {"a": 1})
    assert atomicfile.read_json(target) == {"a": 1, "schema_version": 1}
    atomicfile.write_json(target, {"a": 2}, schema_version=3)
    assert json.loads(target.read_text())["a"] == 2
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp")] == []
