"""The conmon shim's pure parts: its command lines, log options, exit files, k8s-file
lines, and the attach translation (against a SEQPACKET socket standing in for conmon)."""

from __future__ import annotations

import os
import socket
import time

import pytest

from hako.errors import RuntimeFailed, Unsupported
from hako.runtime import conmon_attach, conmon_handle, conmon_spawn, shim_wire, shims
from hako.runtime.logread import decode_k8s, read_logs


def test_log_arguments_k8s_file_and_size():
    assert conmon_spawn.log_arguments("/l/x.log", {}) == ["-l", "k8s-file:/l/x.log"]
    assert conmon_spawn.log_arguments("/l/x.log", {"max_size": 1000, "max_file": 1}) == [
        "-l", "k8s-file:/l/x.log", "--log-size-max", "1000"]
    assert conmon_spawn.log_arguments("", {"max_file": 5}) == ["-l", "none:"]


@pytest.mark.parametrize("opts,word", [
    ({"max_size": 1000, "max_file": 3}, "max-file=3"),
    ({"compress": True}, "compress"),
    ({"attrs": '{"a":"1"}'}, "attributes"),
])
def test_log_arguments_refuse_what_conmon_cannot_do(opts, word):
    with pytest.raises(Unsupported, match=word):
        conmon_spawn.log_arguments("/l/x.log", opts)


def test_container_argv_stdin_modes_and_exit_command():
    def argv(**kw):
        base = dict(conmon="/usr/bin/conmon", id="C", bundle="/b", state_dir="/s", runtime="/rt",
                    runtime_root="/root", log_args=["-l", "none:"], tty=False, stdin=False,
                    stdin_once=False)
        return conmon_spawn.container_argv(**{**base, **kw})

    a = argv()
    assert a[0] == "/usr/bin/conmon" and "-i" not in a and "-t" not in a
    assert a[a.index("--exit-command") + 1] == "/rt"
    tail = [a[i + 1] for i, x in enumerate(a) if x == "--exit-command-arg"]
    assert tail == ["--root", "/root", "delete", "--force", "C"]
    assert a[a.index("--exit-dir") + 1] == "/s/exits" and "--full-attach" in a
    assert "--leave-stdin-open" in argv(stdin=True)
    assert "--leave-stdin-open" not in argv(stdin=True, stdin_once=True)
    assert "--leave-stdin-open" in argv(stdin=True, stdin_once=True, tty=True)  # a pty: no EOF


def test_exec_argv_waits_for_attach():
    a = conmon_spawn.exec_argv(conmon="c", id="C", exec_id="E", exec_dir="/s/execs/E",
                               runtime="/rt", runtime_root="/root", tty=False, stdin=True)
    assert {"-e", "--exec-attach", "-i"} <= set(a)
    assert a[a.index("--exec-process-spec") + 1] == "/s/execs/E/process.json"
    assert a[a.index("-u") + 1] == "E" and a[a.index("-c") + 1] == "C"


def test_sync_messages(tmp_path):
    r, w = os.pipe()
    os.write(w, b'{"data": 42}\n')
    assert conmon_spawn.checked_pid(conmon_spawn.read_message(r, 1)) == 42
    msg = 'time="x" level=error msg="exec: \\"nope\\": executable file not found in $PATH"'
    os.write(w, shim_wire.line({"data": -1, "message": msg}))
    with pytest.raises(RuntimeFailed) as info:
        conmon_spawn.checked_pid(conmon_spawn.read_message(r, 1))
    assert info.value.exit_code == 127 and "executable file not found" in str(info.value)
    os.close(w)
    with pytest.raises(RuntimeFailed, match="without reporting"):
        conmon_spawn.read_message(r, 1)
    os.close(r)


def test_exit_status_from_conmon_files(tmp_path):
    (tmp_path / "conmon.json").write_text('{"id": "C"}')
    assert shims.read_exit_status(str(tmp_path)) is None
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "C").write_text("137")
    st = shims.read_exit_status(str(tmp_path))
    assert st["exit_code"] == 137 and st["oom_killed"] is False and st["exited_at"].endswith("Z")
    (tmp_path / "persist").mkdir()
    (tmp_path / "persist" / "oom").write_text("")
    assert conmon_handle.read_exit_status(str(tmp_path), "C")["oom_killed"] is True


def test_shims_pick_the_python_shim_without_a_conmon_record(tmp_path):
    (tmp_path / "exit.json").write_text('{"exit_code": 3, "exited_at": "t", "oom_killed": false}')
    assert shims.read_exit_status(str(tmp_path))["exit_code"] == 3
    assert shims.load(str(tmp_path)) is None
    (tmp_path / "conmon.json").write_text('{"id": "C", "pid": 1, "shim_pid": 999999999, '
                                          '"shim_start_time": 1, "runtime": ["r", "--root", "x"]}')
    assert shims.load(str(tmp_path)) is None  # conmon is gone


def test_k8s_file_lines():
    assert decode_k8s(b"2026-12-06T16:00:14.634108746+00:00 stdout F hello\n")[:2] == (1, b"hello\n")
    assert decode_k8s(b"2026-12-06T16:00:14.634198534+00:00 stderr P part\n")[:2] == (2, b"part")
    assert decode_k8s(b"2026-12-06T16:00:14.634198534+00:00 stdout F \n")[:2] == (1, b"\n")
    assert decode_k8s(b"garbage line\n") is None


def test_read_logs_mixes_json_and_k8s_lines(tmp_path):
    path = tmp_path / "c-json.log"
    path.write_bytes(b'{"log":"old\\n","stream":"stdout","time":"2026-12-06T16:00:00Z"}\n'
                     b"2026-12-06T16:00:01.5+00:00 stderr F new\n"
                     b"2026-12-06T16:00:02+00:00 stdout P tail\n")
    got = list(read_logs(str(path), timestamps=True))
    assert got == [(1, b"2026-12-06T16:00:00.000000000Z old\n"),
                   (2, b"2026-12-06T16:00:01.500000000Z new\n"),
                   (1, b"2026-12-06T16:00:02.000000000Z tail")]


def _fake_conmon(tmp_path):
    path = str(tmp_path / "attach")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(1)
    return path, listener


def test_attach_frames_output_and_forwards_stdin_then_eof(tmp_path):
    path, listener = _fake_conmon(tmp_path)
    closed = []
    stream = conmon_attach.open_stream(path, True, True, False, lambda: closed.append(1))
    conn, _ = listener.accept()
    conn.send(b"\x02out")
    conn.send(b"\x03err")  # not asked for: dropped
    conn.send(b"\x02more")
    stream.sendall(b"input")
    assert conn.recv(100) == b"input"
    stream.shutdown(socket.SHUT_WR)
    assert conn.recv(100) == b""  # our half-close is conmon's stdin EOF
    conn.close()
    buf = bytearray()
    stream.settimeout(5)
    while chunk := stream.recv(4096):
        buf += chunk
    assert shim_wire.parse_frames(buf) == [(1, b"out"), (1, b"more")]
    assert closed == [1]  # the exit record was awaited before the stream closed
    stream.close()
    listener.close()


def test_attach_without_stdin_ends_when_the_daemon_closes(tmp_path):
    path, listener = _fake_conmon(tmp_path)
    stream = conmon_attach.open_stream(path, False, True, True)
    conn, _ = listener.accept()
    stream.close()
    conn.settimeout(5)
    deadline = time.monotonic() + 5
    while conn.recv(100) != b"" and time.monotonic() < deadline:
        pass  # the pump closes its conmon connection (conmon's client went away)
    conn.close()
    listener.close()


def test_resize_needs_a_tty(tmp_path):
    handle = conmon_handle.ConmonHandle(str(tmp_path), {"id": "C", "pid": 1, "shim_pid": 1,
                                                        "runtime": ["r", "--root", "x"]})
    with pytest.raises(RuntimeFailed, match="no tty"):
        handle.resize(10, 20)
    os.mkfifo(tmp_path / "ctl")
    fd = os.open(tmp_path / "ctl", os.O_RDONLY | os.O_NONBLOCK)
    tty = conmon_handle.ConmonHandle(str(tmp_path), {"id": "C", "pid": 1, "shim_pid": 1, "tty": True,
                                                     "runtime": ["r", "--root", "x"]})
    tty.resize(24, 80)
    assert os.read(fd, 100) == b"1 24 80\n"
    os.close(fd)
