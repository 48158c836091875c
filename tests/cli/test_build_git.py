"""Remote git build contexts (`hako build git://…#ref:subdir`, POST /build?remote=), fetched
from a `git daemon` the test runs on 127.0.0.1: the remote's HEAD, a branch, a tag, a commit,
a subdirectory (also through a symlink inside the repository), and hostile fragments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.git_harness import GitServer, git

pytestmark = pytest.mark.integration

HAKO = [sys.executable, "-m", "hako.cli"]


def commit(server, label, sub_label=None):
    files = {"Dockerfile": f"FROM busybox\nLABEL which={label}\nCOPY f /f\n", "f": label + "\n"}
    if sub_label:
        files["sub/Dockerfile"] = f"FROM busybox\nLABEL which={sub_label}\n"
    return server.commit(files, label)


@pytest.fixture(scope="module")
def git_server(tmp_path_factory):
    """A repository served by ``git daemon`` on loopback; yields (URL, commits)."""
    server = GitServer(tmp_path_factory.mktemp("git"))
    first = commit(server, "first", sub_label="sub")
    (server.work / "link").symlink_to("sub")
    (server.work / "escape").symlink_to("/etc")
    server.commit({}, "links")
    git(server.work, "tag", "v1")
    commit(server, "second")
    git(server.work, "checkout", "-q", "-b", "feature")
    commit(server, "feature")
    git(server.work, "checkout", "-q", "main")
    try:
        yield server.start().url, {"first": first}
    finally:
        server.stop()


def build(hakod, remote, tag):
    """POST /build?remote= → (status, [stream messages]) ."""
    status, body = hakod.api("POST", "/build", query={"remote": remote, "t": tag}, raw=b"")
    if isinstance(body, (bytes, bytearray)):
        body = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
    return status, body


def label(hakod, tag):
    status, info = hakod.api("GET", f"/images/{tag}/json")
    assert status == 200, info
    return info["Config"]["Labels"]["which"]


@pytest.mark.parametrize("fragment,want", [
    ("", "second"),              # the remote's HEAD
    ("#feature", "feature"),     # a branch
    ("#v1", "first"),            # a tag
    ("#main:sub", "sub"),        # a subdirectory with its own Dockerfile
    ("#v1:link", "sub"),         # a symlink inside the repository to that subdirectory
])
def test_git_refs_and_subdirs(hakod, git_server, fragment, want):
    url, _ = git_server
    tag = f"git-ctx-{uuid.uuid4().hex[:8]}"
    status, out = build(hakod, url + fragment, tag)
    assert status == 200 and not [m for m in out if "error" in m], out
    try:
        assert label(hakod, tag) == want
    finally:
        hakod.api("DELETE", f"/images/{tag}")


def test_git_commit_through_hako_cli(hakod, git_server):
    url, commits = git_server
    tag = f"git-ctx-{uuid.uuid4().hex[:8]}"
    res = subprocess.run([*HAKO, "build", "-q", "-t", tag, f"{url}#{commits['first']}"],
                         capture_output=True, env=hakod.env, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    try:
        assert label(hakod, tag) == "first"
        run = subprocess.run([*HAKO, "run", "--rm", tag, "cat", "/f"], capture_output=True,
                             env=hakod.env, timeout=60)
        assert run.stdout.decode() == "first\n"
    finally:
        hakod.api("DELETE", f"/images/{tag}")


@pytest.mark.parametrize("fragment,named", [
    ("#main:escape", "not a directory: escape"),   # /etc of the host is never the context
    ("#main:nosuchdir", "not a directory: nosuchdir"),
    ("#nosuchref", "error fetching"),
    ("#--upload-pack=touch${IFS}/tmp/hako-pwned", "invalid git reference"),
    ("#-q", "invalid git reference"),
    ("#main..feature", "invalid git reference"),
])
def test_hostile_or_missing_fragments(hakod, git_server, fragment, named):
    url, _ = git_server
    status, out = build(hakod, url + fragment, f"git-bad-{uuid.uuid4().hex[:8]}")
    text = json.dumps(out)
    assert named in text, (status, out)
    if "invalid git reference" in named:
        assert status == 400  # refused before anything is fetched
    assert not os.path.exists("/tmp/hako-pwned")
