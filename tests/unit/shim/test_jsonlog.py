"""json-file log writer and reader (pure file I/O in a temp dir)."""

from __future__ import annotations

import io
import json
import threading

import pytest

from hako.runtime import jsonlog
from hako.runtime.jsonlog import LogWriter, format_time_ns, parse_time_ns
from hako.runtime.logread import read_logs, tail_offset


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writer_splits_lines_and_buffers_partials(tmp_path):
    path = tmp_path / "c-json.log"
    w = LogWriter(str(path))
    w.write(1, b"a\nb")
    w.write(2, b"err\n")
    w.write(1, b"c\n\n")
    w.write(1, b"no newline")
    w.close()
    got = [(r["stream"], r["log"]) for r in records(path)]
    assert got == [("stdout", "a\n"), ("stderr", "err\n"), ("stdout", "bc\n"),
                   ("stdout", "\n"), ("stdout", "no newline")]


def test_writer_flushes_16k_partials_and_escapes(tmp_path):
    path = tmp_path / "log"
    w = LogWriter(str(path))
    w.write(1, b"x" * (jsonlog.PARTIAL_MAX + 10))
    w.write(1, b'"quoted"\t\xff\xc3\xa9\n')
    w.close()
    recs = records(path)
    assert recs[0]["log"] == "x" * jsonlog.PARTIAL_MAX
    assert recs[1]["log"] == "x" * 10 + '"quoted"\t\ufffd\u00e9\n'


def test_time_format_and_parse_round_trip():
    ns = 1_795_000_000_123_456_789
    text = format_time_ns(ns)
    assert len(text) == 30 and text.endswith("Z") and text[10] == "T"
    assert parse_time_ns(text) == ns
    assert parse_time_ns("2026-11-29T19:30:00Z") == parse_time_ns("2026-11-29T20:30:00+01:00")
    assert parse_time_ns("2026-11-29T19:30:00.5Z") % 1_000_000_000 == 500_000_000
    with pytest.raises(ValueError):
        parse_time_ns("yesterday")


@pytest.mark.parametrize("data, n, expected", [
    (b"a\nb\nc\n", 2, b"b\nc\n"),
    (b"a\nb\nc\n", 5, b"a\nb\nc\n"),
    (b"a\nb\nc", 1, b"c"),
    (b"a\nb\nc\n", 0, b""),
    (b"", 3, b""),
    (b"\n\n", 1, b"\n"),
])
def test_tail_offset(data, n, expected):
    f = io.BytesIO(data)
    assert data[tail_offset(f, n):] == expected


def test_tail_offset_crosses_blocks():
    data = b"".join(b"line %06d\n" % i for i in range(50_000))
    f = io.BytesIO(data)
    assert data[tail_offset(f, 3):] == b"line 049997\nline 049998\nline 049999\n"


def _write_log(path, entries):
    with open(path, "w") as f:
        for stream, text, ns in entries:
            f.write(json.dumps({"log": text, "stream": stream, "time": format_time_ns(ns)}) + "\n")


S = 1_000_000_000
ENTRIES = [("stdout", "one\n", 10 * S), ("stderr", "two\n", 20 * S), ("stdout", "three\n", 30 * S)]


def test_read_filters_streams_since_until_tail(tmp_path):
    path = tmp_path / "log"
    _write_log(path, ENTRIES)
    assert list(read_logs(str(path))) == [(1, b"one\n"), (2, b"two\n"), (1, b"three\n")]
    assert list(read_logs(str(path), stderr=False)) == [(1, b"one\n"), (1, b"three\n")]
    assert list(read_logs(str(path), since_ns=20 * 10**9)) == [(2, b"two\n"), (1, b"three\n")]
    assert list(read_logs(str(path), until_ns=20 * 10**9)) == [(1, b"one\n"), (2, b"two\n")]
    assert list(read_logs(str(path), tail=1)) == [(1, b"three\n")]
    assert list(read_logs(str(path), tail=0)) == []
    ts = list(read_logs(str(path), tail=1, timestamps=True))
    assert ts == [(1, format_time_ns(30 * S).encode() + b" three\n")]


def test_read_missing_file_is_empty(tmp_path):
    assert list(read_logs(str(tmp_path / "nope"))) == []


def test_follow_sees_appended_lines_until_stop(tmp_path):
    path = tmp_path / "log"
    w = LogWriter(str(path))
    w.write(1, b"first\n")
    stop = threading.Event()
    got = []
    reader = threading.Thread(target=lambda: got.extend(
        read_logs(str(path), follow=True, stop=stop.is_set, poll_interval=0.01)))
    reader.start()
    w.write(2, b"second\n")
    w.write(1, b"third")
    w.close()  # flushes the partial "third"
    stop.set()
    reader.join(10)
    assert not reader.is_alive()
    assert got == [(1, b"first\n"), (2, b"second\n"), (1, b"third")]
