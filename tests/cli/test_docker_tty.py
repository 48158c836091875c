"""Black-box: the real docker CLI in a real terminal (tmux) against hakod: ``run -it``,
detach with ctrl-p ctrl-q, ``attach``, ``exec -it``, exit-code propagation."""

from __future__ import annotations

import uuid

import pytest

from tests.daemon_harness import docker

pytestmark = pytest.mark.integration


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
