"""What an idle hakod keeps mapped (issue 14's idle memory): the Go Dockerfile parser runs in
a fork of the shim zygote (``zygote.call``), so a daemon that built stays without Go's code
and runtime; the one-shot call gives what an in-process parse gives, and a build still
reports Docker's parse errors."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from hako.build.dockerfile import goparse
from hako.runtime import zygote
from tests.daemon_harness import docker, import_busybox

pytestmark = pytest.mark.integration

# the zygote belongs to hako's Python shim: a `--shim conmon` hakod runs none and parses
# Dockerfiles in-process, so under HAKO_TEST_SHIM=conmon these daemons still run the Python shim
PYTHON_SHIM = ("--shim", "hako")
DOCKERFILE = "FROM busybox\nENV A=1\nCOPY f /f\nRUN <<EOF\necho hi > /g\nEOF\nRUN [\"cat\", \"/f\"]\nCMD [\"sh\"]\n"


def mapped(pid: int, needle: str) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return needle in f.read()


def build(d, cli: str, ctx, text: str) -> subprocess.CompletedProcess:
    (ctx / "Dockerfile").write_text(text)
    (ctx / "f").write_text("data\n")
    return subprocess.run([cli, "build", "-q", "--no-cache", str(ctx)], capture_output=True,
                          env={**d.env, "DOCKER_BUILDKIT": "0"}, timeout=120)


def test_build_parses_its_dockerfile_outside_hakod(fresh_hakod, docker_cli, tmp_path):
    d = fresh_hakod("hako", PYTHON_SHIM).start()
    import_busybox(d)
    res = build(d, docker_cli, tmp_path, DOCKERFILE)
    assert res.returncode == 0, res.stderr
    image = res.stdout.decode().strip()
    out = docker(d, docker_cli, "run", "--rm", image, "cat", "/g", check=True).stdout.decode()
    assert out == "hi\n"
    assert not mapped(d.proc.pid, "dockerfile.abi3"), "hakod loaded the Go parser"

    bad = build(d, docker_cli, tmp_path, "FROM busybox\nRUN true\nNOPE x\n")
    assert bad.returncode != 0
    assert "Dockerfile parse error line 3: unknown instruction: NOPE" in bad.stderr.decode()
    assert not mapped(d.proc.pid, "dockerfile.abi3")


def test_zygote_call_returns_what_an_in_process_parse_returns(fresh_hakod):
    d = fresh_hakod("hako", PYTHON_SHIM).start()
    sock = os.path.join(d.exec_root, zygote.SOCKET_NAME)
    args = ("hako.build.dockerfile.goparse", "parse_here", [DOCKERFILE], 30.0,
            tuple(goparse._library_path()))
    assert zygote.call(*args, path=sock) == json.loads(json.dumps(goparse.parse_here(DOCKERFILE)))
    bad = "FROM busybox\nRUN <<EOF\necho\n"
    assert zygote.call("hako.build.dockerfile.goparse", "parse_here", [bad], 30.0,
                       tuple(goparse._library_path()), path=sock) == {"error": "unterminated heredoc"}
    with pytest.raises(OSError):  # only hako's own modules are called
        zygote.call("os", "getpid", [], 30.0, path=sock)
    assert zygote.call("hako.x", "y", [], 1.0, path=os.path.join(d.root, "none.sock")) is None
