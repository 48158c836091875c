"""Black-box: the ``hako`` CLI drives a live hakod (the ``hakod`` fixture).

Every scenario runs the installed console script in a subprocess with ``HAKO_HOST`` set to
the fixture's socket, and removes the containers and images it creates.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.integration

HAKO = [sys.executable, "-m", "hako.cli"]


def hako(d, *args, input=None, timeout=60):
    env = dict(d.env)
    return subprocess.run([*HAKO, *args], input=input, capture_output=True, env=env,
                          timeout=timeout)


def ok(d, *args, **kw) -> str:
    res = hako(d, *args, **kw)
    assert res.returncode == 0, (args, res.returncode, res.stderr.decode())
    return res.stdout.decode()


@pytest.fixture
def name(hakod):
    n = f"hakocli-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    yield n
    hako(hakod, "rm", "-f", n)


def test_version_and_info(hakod):
    out = ok(hakod, "version")
    assert out.startswith("Client:\n") and "\nServer:" in out
    assert "Containers:" in ok(hakod, "info")


def test_images_lists_busybox(hakod):
    out = ok(hakod, "images")
    assert out.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:2] == ["busybox", "latest"] for line in out.splitlines()[1:])


def test_run_output_and_exit_codes(hakod):
    res = hako(hakod, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (res.returncode, res.stdout, res.stderr) == (3, b"out\n", b"err\n")
    res = hako(hakod, "run", "--rm", "busybox", "nosuchcmd")
    assert res.returncode == 127, res.stderr
    res = hako(hakod, "run", "--rm", "busybox", "/etc/passwd")
    assert res.returncode == 126, res.stderr


def test_run_stdin(hakod):
    res = hako(hakod, "run", "-i", "--rm", "busybox", "cat", input=b"hello stdin\n")
    assert (res.returncode, res.stdout) == (0, b"hello stdin\n")


def test_detached_lifecycle(hakod, name):
    cid = ok(hakod, "run", "-d", "--name", name, "busybox", "sh", "-c",
             "echo started; sleep 100").strip()
    assert len(cid) == 64
    deadline = time.monotonic() + 10
    while "started" not in ok(hakod, "logs", name):
        assert time.monotonic() < deadline
    ps = ok(hakod, "ps")
    row = next(line for line in ps.splitlines() if line.endswith(name))
    assert row.startswith(cid[:12]) and "Up " in row
    assert ok(hakod, "inspect", "-f", "{{.State.Status}} {{.Name}}", name) == f"running /{name}\n"
    assert ok(hakod, "exec", name, "sh", "-c", "echo in-exec") == "in-exec\n"
    assert ok(hakod, "stop", "-t", "1", name) == f"{name}\n"
    assert ok(hakod, "ps", "-a", "-f", f"name={name}", "--format", "{{.Status}}").startswith(
        "Exited (")
    assert ok(hakod, "rm", name) == f"{name}\n"


def test_errors_like_docker(hakod):
    res = hako(hakod, "rm", "nosuch-container-x")
    assert res.returncode == 1
    assert res.stderr.decode() == "Error response from daemon: No such container: nosuch-container-x\n"
    res = hako(hakod, "inspect", "nosuch-object-x")
    assert (res.returncode, res.stderr.decode()) == (1, "Error: No such object: nosuch-object-x\n")
    res = hako(hakod, "run", "--nope", "busybox")
    assert res.returncode == 125 and res.stderr.startswith(b"unknown flag: --nope")
    res = hako(hakod, "run", "-m", "abc", "busybox")
    assert res.returncode == 125


def test_seed_spellings(hakod, name):
    res = hako(hakod, "run", "-rm", "-name", name, "busybox", "echo", "seed")
    assert res.returncode == 0 and res.stdout == b"seed\n"
    assert b"Warning: '-rm' is deprecated, it will be replaced by '--rm' soon." in res.stderr


def test_run_tty_in_a_pty(hakod):
    pid, fd = pty.fork()
    if pid == 0:  # child: exec right away (no Python work after fork)
        os.execvpe(HAKO[0], [*HAKO, "run", "-it", "--rm", "busybox", "sh"], hakod.env)
    out, sent = b"", False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
            if not sent and b"# " in out:
                os.write(fd, b"echo $((6*7)); exit 5\r")
                sent = True
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"42" in out, out
    assert os.waitstatus_to_exitcode(status) == 5


def test_save_load_and_export_import(hakod, tmp_path, name):
    tag = f"hakocli-copy-{os.getpid()}:v1"
    tar = tmp_path / "bb.tar"
    ok(hakod, "save", "-o", str(tar), "busybox")
    assert "Loaded image" in ok(hakod, "load", "-i", str(tar))
    ok(hakod, "create", "--name", name, "busybox", "true")
    exported = hako(hakod, "export", name).stdout
    try:
        out = ok(hakod, "import", "-c", 'CMD ["sh"]', "-", tag, input=exported)
        assert out.startswith("sha256:")
        assert ok(hakod, "run", "--rm", tag, "echo", "imported") == "imported\n"
    finally:
        hako(hakod, "rmi", tag)
