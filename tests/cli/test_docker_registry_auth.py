"""Black-box: docker login/push/pull through hakod against `hako registry serve` with
htpasswd basic auth and with its bearer-token issuer."""

from __future__ import annotations

import base64
import http.client
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


@pytest.fixture(params=["basic", "token"])
def acl_registry(request, tmp_path):
    users = tmp_path / "htpasswd"
    users.write_text("".join(f"{u}:" + bcrypt.hashpw(b"pw-" + u.encode(), bcrypt.gensalt(4)).decode()
                             + "\n" for u in ("alice", "bob")))
    acl = tmp_path / "acl.json"
    acl.write_text(json.dumps([
        {"account": "alice", "name": "alice/*", "actions": ["*"]},
        {"account": "alice", "name": "private/*", "actions": ["pull", "push"]},
        {"account": "bob", "name": "alice/*", "actions": ["pull"]},
        {"account": "anonymous", "name": "alice/*", "actions": ["pull"]},
    ]))
    args = ["--htpasswd", str(users), "--acl", str(acl)]
    if request.param == "token":
        args += ["--token-realm", "self"]
    reg = HakoRegistry(*args)
    try:
        yield request.param, reg.start()
    finally:
        reg.cleanup()


def _login(daemon, docker_cli, reg, user):
    os.makedirs(daemon.env["DOCKER_CONFIG"], exist_ok=True)
    docker(daemon, docker_cli, "login", "-u", user, "--password-stdin", reg.host,
           input=f"pw-{user}\n".encode(), check=True)


def test_per_repository_permissions(hakod, fresh_hakod, docker_cli, acl_registry):
    """alice owns alice/*; bob may only pull from it; anything else is nobody's."""
    mode, reg = acl_registry
    tag = uuid.uuid4().hex[:6]
    mine, other = f"{reg.host}/alice/bb:{tag}", f"{reg.host}/bob/bb:{tag}"
    private = f"{reg.host}/private/bb:{tag}"
    for name in (mine, other, private):
        docker(hakod, docker_cli, "tag", "busybox", name, check=True)
    try:
        _login(hakod, docker_cli, reg, "alice")
        assert "Pushed" in out(docker(hakod, docker_cli, "push", mine, check=True))
        docker(hakod, docker_cli, "push", private, check=True)
        res = docker(hakod, docker_cli, "push", other)  # no rule gives alice bob/*
        assert res.returncode == 1
        text = res.stderr.decode() + res.stdout.decode()
        assert ("denied: requested access to the resource is denied" if mode == "basic"
                else "unauthorized: authentication required") in text, text

        bob = fresh_hakod().start()
        _login(bob, docker_cli, reg, "bob")
        res = docker(bob, docker_cli, "pull", mine)
        assert res.returncode == 0, res.stderr.decode()
        docker(bob, docker_cli, "tag", mine, f"{reg.host}/alice/bob-was-here:{tag}", check=True)
        res = docker(bob, docker_cli, "push", f"{reg.host}/alice/bob-was-here:{tag}")
        assert res.returncode == 1  # pull only
        with open(os.path.join(bob.env["DOCKER_CONFIG"], "config.json")) as f:
            assert reg.host in json.load(f)["auths"]
        assert reg.status("GET", "/v2/_catalog") == 401
        if mode == "basic":  # the catalog lists only what the caller may pull
            for user, seen in (("alice", ["alice/bb", "private/bb"]), ("bob", ["alice/bb"])):
                conn = http.client.HTTPConnection(reg.host, timeout=10)
                conn.request("GET", "/v2/_catalog", headers={
                    "Authorization": "Basic " + base64.b64encode(f"{user}:pw-{user}".encode()).decode()})
                assert json.loads(conn.getresponse().read())["repositories"] == seen
                conn.close()
        if mode == "token":  # an anonymous caller gets the pull the ACL gives "anonymous"
            anon = fresh_hakod().start()
            res = docker(anon, docker_cli, "pull", mine, input=b"")
            assert res.returncode == 0, res.stderr.decode()
    finally:
        for name in (mine, other, private):
            docker(hakod, docker_cli, "rmi", name)
        docker(hakod, docker_cli, "logout", reg.host)


def test_acl_flag_misuse_is_refused(tmp_path):
    acl = tmp_path / "acl.json"
    acl.write_text('[{"account": "a", "name": "x", "actions": ["fly"]}]')
    for extra, named in ((["--acl", str(acl)], "--acl needs --htpasswd or --token-realm"),
                         (["--acl", str(acl), "--token-realm", "self"], "rule 0: unknown action 'fly'"),
                         (["--acl", str(tmp_path / "missing"), "--token-realm", "self"], "missing"),
                         (["--acl", str(acl), "--token-realm", "self", "--anonymous-pull"],
                          "--anonymous-pull cannot be combined with --acl")):
        reg = HakoRegistry(*extra)
        try:
            with pytest.raises(RuntimeError) as exc:
                reg.start()
            assert named in str(exc.value)
        finally:
            reg.cleanup()
