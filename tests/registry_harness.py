"""Registries on loopback for tests: ``hako registry serve`` and Debian's ``docker-registry``
(distribution 2.8), each in a process of its own, stopped by PID even when the test failed."""

from __future__ import annotations

import http.client
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class RegistryProcess:
    host = ""
    proc: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def status(self, method: str, path: str, headers: dict | None = None) -> int:
        conn = http.client.HTTPConnection(self.host, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def log(self) -> str:
        try:
            return Path(self.root, "registry.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""


class HakoRegistry(RegistryProcess):
    """``hako registry serve --addr 127.0.0.1:0``; the chosen port is read from its stdout."""

    def __init__(self, *extra: str) -> None:
        self.root = tempfile.mkdtemp(prefix="hako-registry-", dir="/tmp")
        self.storage = os.path.join(self.root, "storage")
        self.extra = extra

    def start(self, timeout: float = 20.0) -> "HakoRegistry":
        log = open(os.path.join(self.root, "registry.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hako.registry.server.main", "serve", "--addr", "127.0.0.1:0",
             "--root", self.storage, *self.extra],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, cwd=REPO)
        log.close()
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            chunk = os.read(self.proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
        if not line.startswith(b"listening on "):
            self.stop()
            raise RuntimeError(f"hako registry did not start: {line!r}\n{self.log()}")
        self.host = line.split()[-1].decode()
        return self


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DistributionRegistry(RegistryProcess):
    """Debian's ``docker-registry`` with its own config: filesystem storage in a temp dir."""

    def __init__(self, htpasswd: str = "") -> None:
        self.root = tempfile.mkdtemp(prefix="distribution-", dir="/tmp")
        self.htpasswd = htpasswd

    def start(self, timeout: float = 20.0) -> "DistributionRegistry":
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed (make install adds it)")
        self.host = f"127.0.0.1:{free_port()}"
        config = os.path.join(self.root, "config.yml")
        auth = (f"auth:\n  htpasswd:\n    realm: basic-realm\n    path: {self.htpasswd}\n"
                if self.htpasswd else "")
        Path(config).write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.root}/data\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n{auth}")
        log = open(os.path.join(self.root, "registry.log"), "ab")
        self.proc = subprocess.Popen([binary, "serve", config], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited:\n{self.log()}")
            try:
                if self.status("GET", "/v2/") in (200, 401):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer:\n{self.log()}")
