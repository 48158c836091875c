"""Black-box: docker login/push/pull through hakod against `hako registry serve` with
htpasswd basic auth and with its bearer-token issuer."""

from __future__ import annotations

import json
import os
import uuid

import bcrypt
import pytest

from tests.daemon_harness import docker, out
from tests.registry_harness import HakoRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(params=["basic", "token"])
def auth_registry(request, tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode() + "\n")
    args = ["--htpasswd", str(path)]
    reg = HakoRegistry(*args)
    if request.param == "token":
        # the realm's port is only known once the server listens: token mode is started with
        # a placeholder and the realm is the same server's /token
        reg = HakoRegistry(*args, "--token-realm", "self", "--anonymous-pull")
    try:
        yield request.param, reg.start()
    finally:
        reg.cleanup()


def test_login_push_pull(hakod, fresh_hakod, docker_cli, auth_registry):
    mode, reg = auth_registry
    name = f"{reg.host}/private/bb-{uuid.uuid4().hex[:6]}:v1"
    docker(hakod, docker_cli, "tag", "busybox", name, check=True)
    config_dir = hakod.env["DOCKER_CONFIG"]
    try:
        res = docker(hakod, docker_cli, "push", name, input=b"")
        assert res.returncode == 1
        expected = "no basic auth credentials" if mode == "basic" else "unauthorized: authentication required"
        assert expected in res.stderr.decode() + res.stdout.decode()

        res = docker(hakod, docker_cli, "login", "-u", "alice", "--password-stdin", reg.host,
                     input=b"wrong\n")
        assert res.returncode == 1
        assert "401 Unauthorized" in res.stderr.decode()

        res = docker(hakod, docker_cli, "login", "-u", "alice", "--password-stdin", reg.host,
                     input=b"s3cret\n", check=True)
        assert "Login Succeeded" in out(res)
        with open(os.path.join(config_dir, "config.json")) as f:
            assert reg.host in json.load(f)["auths"]
        pushed = out(docker(hakod, docker_cli, "push", name, check=True))
        assert "Pushed" in pushed
    finally:
        docker(hakod, docker_cli, "rmi", name)

    other = fresh_hakod().start()
    res = docker(other, docker_cli, "pull", name, input=b"")  # no login prompt answer
    if mode == "basic":
        assert res.returncode == 1  # anonymous pull refused
        os.makedirs(other.env["DOCKER_CONFIG"], exist_ok=True)
        docker(other, docker_cli, "login", "-u", "alice", "--password-stdin", reg.host,
               input=b"s3cret\n", check=True)
        res = docker(other, docker_cli, "pull", name)
    assert res.returncode == 0, res.stderr.decode()
    assert out(docker(other, docker_cli, "run", "--rm", name, "echo", "ok", check=True)).strip() == "ok"
    docker(hakod, docker_cli, "logout", reg.host, check=True)
