"""support/systemd: notify socket and watchdog from the environment, socket-activation fds."""

from __future__ import annotations

import os
import socket

import pytest

from hako.errors import InvalidArgument
from hako.support import systemd


def test_notify_sends_one_datagram_and_drops_the_variables(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sink:
        sink.bind(path)
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}
        n = systemd.Notifier(env)
        assert env == {}  # children never inherit the manager's socket
        assert n.notify("READY=1", "STATUS=ok") and sink.recv(100) == b"READY=1\nSTATUS=ok"
        assert n.watchdog_interval() == 1.5


def test_no_manager_and_someone_elses_watchdog():
    assert not systemd.Notifier({}).notify("READY=1")
    n = systemd.Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "100", "WATCHDOG_PID": "1"})
    assert n.watchdog_interval() == 0.0  # the watchdog is for another process
    assert not n.notify("READY=1")  # an unreachable socket is not an error of the daemon


def test_listen_fds_only_for_this_pid():
    assert systemd.listen_fds({"LISTEN_PID": "1", "LISTEN_FDS": "2"}) == []
    with pytest.raises(InvalidArgument):
        systemd.listen_fds({"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "x"})


@pytest.mark.parametrize("address,fds,want", [("", [3, 4], [3, 4]), ("*", [3], [3]), ("4", [3, 4], [4])])
def test_select_fds(address, fds, want):
    assert systemd.select_fds(address, fds) == want


@pytest.mark.parametrize("address,fds,text", [
    ("", [], "no sockets found via socket activation"),
    ("x", [3], "should be a number: x"),
    ("5", [3, 4], "too few socket activated files"),
    ("2", [3], "too few socket activated files"),
])
def test_select_fds_errors(address, fds, text):
    with pytest.raises(InvalidArgument, match=text):
        systemd.select_fds(address, fds)


def test_a_manager_not_reading_never_blocks_a_ping(tmp_path):
    """Its queue full (max_dgram_qlen), a watchdog ping is dropped at once and another
    message gives up after its wait: the daemon's loop is never stuck on the manager."""
    import time

    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sink:
        sink.bind(path)
        n = systemd.Notifier({"NOTIFY_SOCKET": path})
        sent = 0
        while n.notify("WATCHDOG=1", wait=0):
            sent += 1
            assert sent < 100000, "the queue never filled"
        started = time.monotonic()
        assert not n.notify("WATCHDOG=1", wait=0)
        assert not n.notify("STOPPING=1", wait=0.2)
        assert time.monotonic() - started < 2
        assert sink.recv(100) == b"WATCHDOG=1"  # what was queued is still there, in order
