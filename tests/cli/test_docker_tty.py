"""Black-box: the real docker CLI in a real terminal (tmux) against hakod: ``run -it``,
detach with ctrl-p ctrl-q, ``attach``, ``exec -it``, exit-code propagation."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid

import pytest

from tests.daemon_harness import docker

pytestmark = pytest.mark.integration


class Term:
    """One command in a detached tmux session on a private tmux server."""

    def __init__(self, hakod, socket_name: str, argv: list[str]) -> None:
        self.hakod = hakod
        self.sock = socket_name
        self.name = "t" + uuid.uuid4().hex[:6]
        self.rc_file = os.path.join(hakod.root, f"{self.name}.rc")
        cmd = f"{shlex.join(argv)}; echo $? > {shlex.quote(self.rc_file)}"
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

    def factory(*argv: str) -> Term:
        t = Term(hakod, sock, list(argv))
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


@pytest.fixture
def name(hakod, docker_cli):
    n = f"tty-{uuid.uuid4().hex[:8]}"
    yield n
    docker(hakod, docker_cli, "rm", "-f", n)


def status(hakod, cli, ref) -> str:
    return docker(hakod, cli, "inspect", "-f", "{{.State.Status}}", ref).stdout.decode().strip()


def test_run_it_interactive_shell_and_exit_code(hakod, docker_cli, term, name):
    t = term(docker_cli, "run", "-it", "--name", name, "busybox", "sh")
    t.wait_for("/ #")
    t.line("echo $((6*7))")
    screen = t.wait_for("\n42")
    assert "echo $((6*7))" in screen  # the pty echoes what was typed
    t.line("tty; stty size")
    t.wait_for("/dev/pts/0")
    t.wait_for("40 160")  # the terminal size reached the container
    t.line("exit 3")
    assert t.exit_code() == 3
    assert docker(hakod, docker_cli, "inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == b"3"


def test_detach_and_attach(hakod, docker_cli, term, name):
    t = term(docker_cli, "run", "-it", "--name", name, "busybox", "sh")
    t.wait_for("/ #")
    t.line("echo first-session")
    t.wait_for("\nfirst-session")
    t.send("C-p", "C-q")
    assert t.exit_code() == 0
    assert status(hakod, docker_cli, name) == "running"
    again = term(docker_cli, "attach", name)
    again.line("echo $((6*7))")
    again.wait_for("\n42")
    again.send("C-p", "C-q")
    # docker attach (unlike run) returns the EscapeError on a detach: "read escape sequence", 1
    assert again.exit_code() == 1
    assert status(hakod, docker_cli, name) == "running"
    last = term(docker_cli, "attach", name)
    last.line("exit 5")
    assert last.exit_code() == 5
    assert status(hakod, docker_cli, name) == "exited"


def test_exec_it(hakod, docker_cli, term, name):
    docker(hakod, docker_cli, "run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    t = term(docker_cli, "exec", "-it", name, "sh")
    t.wait_for("/ #")
    t.line("echo $((6*7)) $$")
    screen = t.wait_for("\n42 ")
    assert "\n42 1 " not in screen + " "  # not the container's pid 1
    t.line("tty")
    t.wait_for("/dev/pts/")
    t.line("exit 4")
    assert t.exit_code() == 4
    assert status(hakod, docker_cli, name) == "running"
