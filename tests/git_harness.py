"""A git repository served by ``git daemon`` on 127.0.0.1 for tests of remote git contexts and
automated builds; the daemon is stopped by PID even when the test failed."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from tests.registry_harness import free_port

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", GIT_CONFIG_NOSYSTEM="1")


def git(cwd, *args) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          env=GIT_ENV).stdout.decode().strip()


class GitServer:
    """``work/`` is a working tree on branch ``main``; :meth:`publish` pushes it to the bare
    ``srv/repo.git`` that ``git daemon`` serves at :attr:`url`."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.work = self.base / "work"
        self.bare = self.base / "srv" / "repo.git"
        self.work.mkdir(parents=True)
        git(self.work, "init", "-q", "-b", "main")
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", message)
        return git(self.work, "rev-parse", "HEAD")

    def publish(self) -> None:
        if not self.bare.exists():
            self.bare.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "clone", "-q", "--bare", str(self.work), str(self.bare)], check=True)
        else:
            git(self.work, "push", "-q", "--all", "--force", str(self.bare))
            git(self.work, "push", "-q", "--tags", "--force", str(self.bare))

    def start(self, timeout: float = 10.0) -> "GitServer":
        self.publish()
        port = free_port()
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", f"--port={port}",
             f"--base-path={self.bare.parent}", str(self.bare.parent)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("git daemon did not listen")
                time.sleep(0.05)
        self.url = f"git://127.0.0.1:{port}/repo.git"
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
