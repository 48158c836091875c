"""hakod's command line: dockerd's flag names, unknown flags, TCP listener, pidfile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_unknown_flag_is_a_clear_error():
    res = subprocess.run([sys.executable, "-m", "hako.daemon.main", "--no-such-flag"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "unknown flag: --no-such-flag" in res.stderr


def test_bad_config_file_is_reported(tmp_path):
    cfg = tmp_path / "daemon.json"
    cfg.write_text('{"data-root": "/tmp/x", "colour": "red"}')
    res = subprocess.run([sys.executable, "-m", "hako.daemon.main", "--config-file", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert "don't match any configuration option: colour" in res.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_listener_and_pidfile(fresh_hakod):
    port = _free_port()
    d = fresh_hakod()
    pidfile = os.path.join(d.root, "hakod.pid")
    d.extra_args = ("-H", f"tcp://127.0.0.1:{port}", "--pidfile", pidfile)
    d.start()
    with open(pidfile) as f:
        assert int(f.read()) == d.proc.pid
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"OK")
    assert b"Api-Version: 1.41" in data
    d.stop()
    assert not os.path.exists(pidfile)
