"""`hako registry serve --autobuild`: the registry builds a watched branch through a hakod when
it gets a new commit (polling at start, then a webhook), pushes the image to itself, and keeps
each build's status and log readable over HTTP and through `hako registry builds`. A build that
fails leaves the tags where they were. Run with and without htpasswd auth (the autobuilder
pushes as an account only the registry process knows)."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import time

import bcrypt
import pytest

from tests.daemon_harness import docker
from tests.git_harness import GitServer
from tests.registry_harness import HakoRegistry

pytestmark = pytest.mark.integration
HAKO = [sys.executable, "-m", "hako.cli"]


@pytest.fixture(params=["open", "basic"])
def setup(request, hakod, tmp_path):
    server = GitServer(tmp_path / "git")
    first = server.commit({"Dockerfile": "FROM busybox\nLABEL rev=one\n"}, "one")
    server.start()
    config = tmp_path / "autobuild.json"
    config.write_text(json.dumps([{"repository": "team/app", "git": server.url, "branch": "main",
                                   "tags": ["latest", "{commit}"], "secret": "s3"}]))
    args = ["--autobuild", str(config), "--autobuild-daemon", hakod.host, "--autobuild-poll", "3600"]
    headers = {}
    if request.param == "basic":
        users = tmp_path / "htpasswd"
        users.write_text("ops:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode() + "\n")
        args += ["--htpasswd", str(users)]
        headers["Authorization"] = "Basic " + base64.b64encode(b"ops:pw").decode()
    reg = HakoRegistry(*args)
    try:
        yield server, reg.start(), headers, first
    finally:
        reg.cleanup()
        server.stop()


def call(reg, method, path, headers):
    conn = http.client.HTTPConnection(reg.host, timeout=30)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_builds(reg, headers, count, timeout=180):
    """Poll until ``count`` builds exist and none is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = call(reg, "GET", "/autobuild/builds", headers)
        assert status == 200, body
        builds = json.loads(body)
        if len(builds) >= count and all(b["status"] in ("succeeded", "failed") for b in builds):
            return builds
        assert time.monotonic() < deadline, builds
        time.sleep(0.1)


def tags(reg, headers):
    return json.loads(call(reg, "GET", "/v2/team/app/tags/list", headers)[1])["tags"]


def test_autobuild_follows_the_branch(setup, hakod, fresh_hakod, docker_cli):
    server, reg, headers, first = setup
    [b1] = wait_builds(reg, headers, 1)  # the first poll, at start
    assert b1["status"] == "succeeded", call(reg, "GET", f"/autobuild/builds/{b1['id']}/log", headers)
    assert b1["commit"] == first and b1["tags"] == ["latest", first[:12]]
    assert sorted(tags(reg, headers)) == sorted(["latest", first[:12]])

    second = server.commit({"Dockerfile": "FROM busybox\nLABEL rev=two\n"}, "two")
    server.publish()
    assert call(reg, "POST", "/autobuild/hooks/team/app?secret=wrong", {})[0] == 403
    assert call(reg, "POST", "/autobuild/hooks/other/repo?secret=s3", {})[0] == 403
    assert call(reg, "POST", "/autobuild/hooks/team/app?secret=s3", {})[0] == 202
    builds = wait_builds(reg, headers, 2)
    assert [b["commit"] for b in builds] == [first, second]
    assert builds[1]["status"] == "succeeded"
    status, text = call(reg, "GET", f"/autobuild/builds/{builds[1]['id']}/log", headers)
    assert status == 200 and f"pushing {reg.host}/team/app:latest" in text.decode()

    # a broken commit fails, with its error kept, and moves no tag
    server.commit({"Dockerfile": "FROM busybox\nRUN exit 3\n"}, "broken")
    server.publish()
    assert call(reg, "POST", "/autobuild/hooks/team/app?secret=s3", {})[0] == 202
    builds = wait_builds(reg, headers, 3)
    assert builds[2]["status"] == "failed" and "exit" in builds[2]["error"], builds[2]

    # whoever pulls :latest gets the last good build
    other = fresh_hakod().start()
    if headers:
        docker(other, docker_cli, "login", "-u", "ops", "--password-stdin", reg.host,
               input=b"pw\n", check=True)
    res = docker(other, docker_cli, "pull", f"{reg.host}/team/app:latest")
    assert res.returncode == 0, res.stderr.decode()
    status, info = other.api("GET", f"/images/{reg.host}/team/app:latest/json")
    assert info["Config"]["Labels"]["rev"] == "two"

    # the same through the CLI: a table, and one build's log
    env = dict(other.env)
    res = subprocess.run([*HAKO, "registry", "builds", "--registry", reg.host], capture_output=True,
                         env=env, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["BUILD", "ID", "REPOSITORY"]
    assert [line.split()[4] for line in lines[1:]] == ["succeeded", "succeeded", "failed"]
    res = subprocess.run([*HAKO, "registry", "builds", "--registry", reg.host, "--log",
                          builds[2]["id"]], capture_output=True, env=env, timeout=60)
    assert res.returncode == 0 and "error:" in res.stdout.decode()


def test_autobuild_config_is_checked(tmp_path):
    config = tmp_path / "autobuild.json"
    for doc, named in (([{"repository": "a/b"}], "entry 0: 'git' must be"),
                       ([{"repository": "a/b", "git": "file:///etc", }], "git://, http(s):// or git@"),
                       ([{"repository": "a/b", "git": "git://h/r", "branch": "-x"}], "invalid 'branch'"),
                       ([{"repository": "a/b", "git": "git://h/r", "tgs": []}], "unknown key 'tgs'")):
        config.write_text(json.dumps(doc))
        reg = HakoRegistry("--autobuild", str(config))
        try:
            with pytest.raises(RuntimeError) as exc:
                reg.start()
            assert named in str(exc.value)
        finally:
            reg.cleanup()
