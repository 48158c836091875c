"""Shim wire format, command line and runtime error parsing."""

from __future__ import annotations

import pytest

from hako.runtime import shim_wire
from hako.runtime.shim import parse_args
from hako.runtime.shim_runtime import last_error_line
from hako.runtime.shimclient import runtime_exit_code


@pytest.mark.parametrize("obj", [
    {"op": "attach", "stdin": True, "stdout": False},
    {"process": {"args": ["sh", "-c", "echo \"hi\" é"], "env": [], "n": 1.5, "x": None}},
    [], "s", 3,
])
def test_json_round_trip(obj):
    assert shim_wire.loads(shim_wire.dumps(obj)) == obj
    assert shim_wire.loads(shim_wire.line(obj)) == obj


@pytest.mark.parametrize("bad", ["", "{", '{"a":1} x', "nope"])
def test_loads_rejects(bad):
    with pytest.raises(ValueError):
        shim_wire.loads(bad)


def test_frames():
    buf = bytearray(shim_wire.frame(1, b"out") + shim_wire.frame(2, b"") + shim_wire.frame(2, b"err")[:5])
    assert shim_wire.frame(1, b"out")[:8] == bytes([1, 0, 0, 0, 0, 0, 0, 3])
    assert shim_wire.parse_frames(buf) == [(1, b"out"), (2, b"")]
    assert len(buf) == 5


def test_parse_args():
    opts = parse_args(["--id", "c1", "--bundle=/b", "--state-dir", "/s", "--runtime", "runc",
                       "--runtime-root", "/r", "--log-file", "/l", "--tty", "--stdin-once"])
    assert opts["id"] == "c1" and opts["bundle"] == "/b" and opts["runtime"] == "runc"
    assert opts["tty"] and opts["stdin_once"] and not opts["stdin"]
    with pytest.raises(ValueError, match="missing"):
        parse_args(["--id", "c1"])
    with pytest.raises(ValueError, match="unknown"):
        parse_args(["--bogus"])
    assert (opts["log_max_size"], opts["log_max_file"], opts["log_compress"], opts["log_attrs"]) == (-1, 1, False, "")


def test_parse_args_log_options():
    base = ["--id", "c1", "--bundle=/b", "--state-dir", "/s", "--runtime", "runc", "--runtime-root", "/r"]
    opts = parse_args(base + ["--log-file", "/l", "--log-max-size", "1000", "--log-max-file", "3",
                              "--log-compress", "--log-attrs", '{"a":"1"}'])
    assert (opts["log_max_size"], opts["log_max_file"], opts["log_compress"]) == (1000, 3, True)
    assert opts["log_attrs"] == '{"a":"1"}'
    assert parse_args(base + ["--log-file", ""])["log_file"] == ""  # the none driver: no log
    with pytest.raises(ValueError, match="integers"):
        parse_args(base + ["--log-file", "/l", "--log-max-size", "1k"])


def test_last_error_line_extracts_logrus_msg():
    out = (b'time="2026-01-01T00:00:00Z" level=warning msg="meh"\n'
           b'time="2026-01-01T00:00:00Z" level=error msg="runc create failed: exec: \\"nope\\": '
           b'executable file not found in $PATH"\n\n')
    assert last_error_line(out) == 'runc create failed: exec: "nope": executable file not found in $PATH'
    assert last_error_line(b"plain failure\n") == "plain failure"
    assert last_error_line(b"") == ""


@pytest.mark.parametrize("msg, code", [
    ('exec: "x": executable file not found in $PATH', 127),
    ("open /no/such: No such file or directory", 127),
    ("exec /etc: permission denied", 126),
    ("something else", 128),
])
def test_runtime_exit_code(msg, code):
    assert runtime_exit_code(msg) == code


def test_exit_reply():
    from hako.runtime.shimclient import exit_reply

    line = shim_wire.line({"pid": 7, "status": "exited", "exit_code": 3,
                           "exited_at": "2026-12-06T00:00:00.1Z", "oom_killed": True})
    assert exit_reply(line) == {"exit_code": 3, "exited_at": "2026-12-06T00:00:00.1Z", "oom_killed": True}
    old_shim = shim_wire.line({"pid": 7, "status": "exited", "exit_code": 0})
    assert exit_reply(old_shim) == {"exit_code": 0, "exited_at": "", "oom_killed": False}
    for no_exit in (b"", b"\n", b"{", shim_wire.line({"pid": 7, "status": "running", "exit_code": None}),
                    shim_wire.line({"ok": False, "error": "x"}), shim_wire.line([1])):
        assert exit_reply(no_exit) is None
