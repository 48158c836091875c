"""Log rotation in the writer and reading across rotated files (small sizes, a temp dir)."""

from __future__ import annotations

import gzip
import json
import os
import threading

from hako.runtime.jsonlog import LogWriter
from hako.runtime.logread import details_prefix, read_logs, rotated_files
from tests.daemon_harness import poll


def _write_lines(w: LogWriter, first: int, last: int) -> None:
    for i in range(first, last + 1):
        w.write(1, b"line-%d\n" % i)


def _texts(entries) -> list[str]:
    return [payload.decode().rstrip("\n") for _, payload in entries]


def _names(tmp_path) -> list[str]:
    return sorted(os.listdir(tmp_path))


def test_rotation_keeps_max_file_files_of_about_max_size(tmp_path):
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=300, max_file=3)
    _write_lines(w, 1, 100)
    w.close()
    assert _names(tmp_path) == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    record = max(len(x) for x in open(path, "rb"))
    for name in _names(tmp_path):
        assert os.path.getsize(tmp_path / name) < 300 + record
    got = _texts(read_logs(path))
    first = int(got[0].split("-")[1])
    assert got == [f"line-{i}" for i in range(first, 101)] and first > 1
    assert _texts(read_logs(path, tail=5)) == [f"line-{i}" for i in range(96, 101)]
    assert _texts(read_logs(path, tail=len(got) - 1)) == got[1:]  # starts in the oldest file
    assert _texts(read_logs(path, tail=1000)) == got


def test_rotation_checks_size_before_each_record_and_appends_after_reopen(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=1, max_file=2)
    w.write(1, b"a\nb\n")  # one write, two records: the second goes to a new file
    w.close()
    assert [json.loads(x)["log"] for x in open(path + ".1")] == ["a\n"]
    w = LogWriter(path, max_size=1, max_file=2)  # a restarted container appends, then rotates
    w.write(1, b"c\n")
    w.close()
    assert _texts(read_logs(path)) == ["b", "c"]


def test_max_file_one_truncates(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=100, max_file=1)
    _write_lines(w, 1, 20)
    w.close()
    assert _names(tmp_path) == ["log"]
    assert _texts(read_logs(path))[-1] == "line-20"
    assert os.path.getsize(path) < 200


def test_compress_gzips_rotated_files_in_a_child(tmp_path):
    path = str(tmp_path / "log")
    children: list[int] = []
    w = LogWriter(path, max_size=200, max_file=4, compress=True, on_child=children.append)
    _write_lines(w, 1, 60)
    w.close()
    want = ["log", "log.1.gz", "log.2.gz", "log.3.gz"]
    poll(lambda: _names(tmp_path) == want)  # the last child may still run
    for pid in children:
        os.waitpid(pid, 0)
    with gzip.open(path + ".3.gz") as f:
        first = json.loads(f.readline())["log"]
    got = _texts(read_logs(path))
    assert got[0] == first.rstrip("\n") and got[-1] == "line-60"
    assert got == [f"line-{i}" for i in range(int(got[0].split("-")[1]), 61)]
    assert _texts(read_logs(path, tail=10)) == got[-10:]
    assert _texts(read_logs(path, tail=len(got) - 1)) == got[1:]  # starts inside the oldest .gz


def test_reader_takes_a_rotated_file_not_yet_compressed(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=50, max_file=3)
    _write_lines(w, 1, 3)
    w.close()
    with open(path + ".2", "rb") as src, gzip.open(path + ".2.gz", "wb") as dst:
        dst.write(src.read())
    os.unlink(path + ".2")
    assert rotated_files(path) == [path + ".2.gz", path + ".1"]
    assert _texts(read_logs(path)) == ["line-1", "line-2", "line-3"]


def test_attrs_are_stored_and_shown_by_details(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, attrs=b'{"a":"1","tag":"web/x y"}')
    w.write(1, b"hi\n")
    w.close()
    rec = json.loads(open(path).read())
    assert list(rec) == ["log", "stream", "attrs", "time"] and rec["attrs"] == {"a": "1", "tag": "web/x y"}
    assert _texts(read_logs(path, details=True)) == ["a=1,tag=web%2Fx+y hi"]
    assert details_prefix({}) == b" "


def test_follow_continues_across_rotations(tmp_path):
    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=100, max_file=4)
    w.write(1, b"line-0\n")
    stop = threading.Event()
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(
        read_logs(path, follow=True, stop=stop.is_set, poll_interval=0.005)))
    reader.start()
    poll(lambda: got)
    for i in range(1, 40):  # each write waits until the reader has it: rotations in between
        w.write(1, b"line-%d\n" % i)
        poll(lambda i=i: len(got) > i, timeout=10)
    w.write(1, b"a\nb\nc\nd\n")  # rotations between two polls: the files between are read too
    w.close()
    stop.set()
    reader.join(10)
    assert not reader.is_alive()
    assert _texts(got) == [f"line-{i}" for i in range(40)] + list("abcd")


def test_follow_across_compressed_rotations(tmp_path):
    import hako.runtime.logcompress  # noqa: F401 - imported before the fork (a reader thread runs)

    path = str(tmp_path / "log")
    w = LogWriter(path, max_size=100, max_file=5, compress=True)
    w.write(1, b"line-0\n")
    stop = threading.Event()
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(
        read_logs(path, follow=True, stop=stop.is_set, poll_interval=0.05)))
    reader.start()
    poll(lambda: got)
    w.write(1, b"a\nb\nc\nd\ne\nf\n")  # up to 4 rotations before the next poll, compressed meanwhile
    w.close()
    poll(lambda: not any(n.endswith((".1", ".2", ".3", ".4")) for n in os.listdir(tmp_path)))
    stop.set()
    reader.join(10)
    assert not reader.is_alive()
    assert _texts(got) == ["line-0", *"abcdef"]
