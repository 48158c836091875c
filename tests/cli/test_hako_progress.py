"""`hako pull` and `hako push` draw live progress bars on a terminal (one line per layer with
its status, a bar, bytes and speed, as docker draws them) and print plain lines otherwise.
The terminal is a real one (tmux), its screen read with capture-pane."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import uuid

import pytest

from tests.daemon_harness import docker

pytestmark = pytest.mark.integration
HAKO = [sys.executable, "-m", "hako.cli"]



@pytest.fixture
def big_image(hakod, hako_registry):
    """An image with a 24 MiB random layer (so bytes visibly move), tagged for the registry."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = os.urandom(24 << 20)
        info = tarfile.TarInfo("blob")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    name = f"{hako_registry.host}/progress/big:{uuid.uuid4().hex[:6]}"
    repo, tag = name.rsplit(":", 1)
    status, body = hakod.api("POST", "/images/create", raw=buf.getvalue(), timeout=120,
                             query={"fromSrc": "-", "repo": repo, "tag": tag})
    assert status == 200, body
    yield name
    hakod.api("DELETE", f"/images/{name}", query={"force": "1"})


def _hako(*args):
    return [*HAKO, *args]


def test_push_and_pull_draw_bars_on_a_terminal(hakod, docker_cli, term, big_image):
    t = term(*_hako("push", big_image), hold=True)
    assert t.exit_code(timeout=120) == 0, t.screen()
    screen = t.screen()
    layer = [line for line in screen.splitlines() if ": Pushed" in line]
    assert layer, screen
    assert "━" in layer[0] and "MB" in layer[0], screen  # a (full) bar and the bytes moved
    assert "digest: sha256:" in screen

    docker(hakod, docker_cli, "rmi", big_image, check=True)
    t = term(*_hako("pull", big_image), hold=True)
    assert t.exit_code(timeout=120) == 0, t.screen()
    screen = t.screen()
    done = [line for line in screen.splitlines() if ": Pull complete" in line]
    assert done and "━" in done[0] and "/" in done[0], screen  # e.g. "25.2/25.2 MB"
    assert "Digest: sha256:" in screen and "Status: Downloaded newer image" in screen
    assert "\x1b" not in screen  # capture-pane shows the drawn screen, not escape codes


def test_plain_lines_without_a_terminal(hakod, big_image):
    for verb, done, moving in (("push", ": Pushed", "Pushing"), ("pull", ": Pull complete", "Downloading")):
        if verb == "pull":
            hakod.api("DELETE", f"/images/{big_image}")
        res = subprocess.run(_hako(verb, big_image), capture_output=True, env=hakod.env, timeout=120)
        assert res.returncode == 0, res.stderr.decode()
        text = res.stdout.decode()
        assert "\x1b" not in text and "━" not in text  # no drawing, no byte counts
        assert done in text and moving not in text, text
