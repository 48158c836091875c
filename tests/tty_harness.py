"""A real terminal for black-box tests: one command in a detached tmux session on a private
tmux server (killed afterwards), its screen read with capture-pane."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid

import pytest


class Term:
    """One command in a detached tmux session on a private tmux server."""

    def __init__(self, hakod, socket_name: str, argv: list[str], hold: bool = False) -> None:
        self.hakod = hakod
        self.sock = socket_name
        self.name = "t" + uuid.uuid4().hex[:6]
        self.rc_file = os.path.join(hakod.root, f"{self.name}.rc")
        cmd = f"{shlex.join(argv)}; echo $? > {shlex.quote(self.rc_file)}"
        if hold:  # keep the pane (and its last screen) after the command ended
            cmd += "; exec cat >/dev/null"
        self.tmux("new-session", "-d", "-s", self.name, "-x", "160", "-y", "40", "sh", "-c", cmd)

    def tmux(self, *args: str) -> str:
        res = subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, env=self.hakod.env,
                             timeout=10)
        return res.stdout.decode(errors="replace")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def line(self, text: str) -> None:
        self.send("-l", text)
        self.send("Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen before the deadline:\n{screen}")
            time.sleep(0.05)

    def exit_code(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            try:
                text = open(self.rc_file).read().strip()
                if text:
                    return int(text)
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the command did not end before the deadline:\n{self.screen()}")
            time.sleep(0.05)


@pytest.fixture
def term(hakod):
    """Factory of tmux terminals; the private tmux server is killed afterwards."""
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    sock = f"hako-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    made: list[Term] = []

    def factory(*argv: str, hold: bool = False) -> Term:
        t = Term(hakod, sock, list(argv), hold)
        made.append(t)
        return t

    try:
        yield factory
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
        try:
            os.unlink(os.path.join(tmpdir, f"tmux-{os.getuid()}", sock))
        except OSError:
            pass


