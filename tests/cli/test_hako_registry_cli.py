"""Black-box: `hako registry serve` started by the hako CLI, `hako login/push/search/pull/logout`
against it, and Debian's skopeo copying images into and out of it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import bcrypt
import pytest

from tests.daemon_harness import docker, out
from tests.registry_harness import HakoRegistry

pytestmark = pytest.mark.integration
HAKO = [sys.executable, "-m", "hako.cli"]


def hako(d, *args, input: bytes | None = None, check: bool = True):
    res = subprocess.run([*HAKO, *args], input=input, capture_output=True, env=d.env, timeout=120)
    if check and res.returncode != 0:
        raise AssertionError(f"hako {' '.join(args)}: {res.returncode} {res.stderr.decode()}")
    return res


@pytest.fixture
def secured(tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text("bob:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode() + "\n")
    reg = HakoRegistry("--htpasswd", str(path))
    try:
        yield reg.start()
    finally:
        reg.cleanup()


def test_hako_registry_serve_entrypoint(tmp_path):
    """`hako registry serve` runs the server in the CLI's place (exec)."""
    proc = subprocess.Popen([*HAKO, "registry", "serve", "--addr", "127.0.0.1:0", "--root",
                             str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("listening on 127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(10)


def test_login_push_search_pull_logout(hakod, fresh_hakod, secured):
    name = f"{secured.host}/team/tool-{uuid.uuid4().hex[:6]}"
    docker_config = hakod.env["DOCKER_CONFIG"]
    hako(hakod, "tag", "busybox", f"{name}:1.0")
    try:
        res = hako(hakod, "login", "-u", "bob", "--password-stdin", secured.host, input=b"nope\n",
                   check=False)
        assert res.returncode != 0 and "401 Unauthorized" in res.stderr.decode()
        res = hako(hakod, "login", "-u", "bob", "--password-stdin", secured.host, input=b"pw\n")
        assert "Login Succeeded" in out(res)
        with open(os.path.join(docker_config, "config.json")) as f:
            assert json.load(f)["auths"][secured.host]["auth"]
        pushed = out(hako(hakod, "push", f"{name}:1.0"))
        assert "Pushed" in pushed and re.search(r"1\.0: digest: sha256:[0-9a-f]{64}", pushed)
        found = out(hako(hakod, "search", f"{secured.host}/tool"))
        assert "NAME" in found.splitlines()[0] and name.split("/", 1)[1] in found
    finally:
        hako(hakod, "rmi", f"{name}:1.0", check=False)
    other = fresh_hakod().start()
    os.makedirs(other.env["DOCKER_CONFIG"], exist_ok=True)
    shutil.copy(os.path.join(docker_config, "config.json"), other.env["DOCKER_CONFIG"])
    pulled = out(hako(other, "pull", f"{name}:1.0"))
    assert "Downloaded newer image" in pulled
    assert "Logout" not in out(hako(hakod, "logout", secured.host))
    with open(os.path.join(docker_config, "config.json")) as f:
        assert secured.host not in json.load(f).get("auths", {})



def test_skopeo_copies_in_and_out(hakod, fresh_hakod, docker_cli, hako_registry, tmp_path):
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.fail("skopeo is not installed (make install adds it)")
    name = f"{hako_registry.host}/sk/bb-{uuid.uuid4().hex[:6]}"
    docker(hakod, docker_cli, "tag", "busybox", f"{name}:a", check=True)
    try:
        pushed = out(docker(hakod, docker_cli, "push", f"{name}:a", check=True))
    finally:
        docker(hakod, docker_cli, "rmi", f"{name}:a")
    digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed).group(1)
    res = subprocess.run([skopeo, "inspect", "--tls-verify=false", f"docker://{name}:a"],
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout)["Digest"] == digest
    # out: registry → OCI layout; in: OCI layout → another repository of the registry
    layout = tmp_path / "layout"
    for src, dst in ((f"docker://{name}:a", f"oci:{layout}:a"),
                     (f"oci:{layout}:a", f"docker://{name}-copy:b")):
        res = subprocess.run([skopeo, "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                              src, dst], capture_output=True, timeout=120)
        assert res.returncode == 0, res.stderr.decode()
    other = fresh_hakod().start()
    docker(other, docker_cli, "pull", f"{name}-copy:b", check=True)
    assert out(docker(other, docker_cli, "run", "--rm", f"{name}-copy:b", "echo", "via-skopeo",
                      check=True)).strip() == "via-skopeo"
