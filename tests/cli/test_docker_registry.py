"""Black-box: the real docker CLI pushes to and pulls from registries on loopback through
hakod: `hako registry serve`, and Debian's docker-registry (distribution 2.8) as the oracle."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.daemon_harness import docker, out
from tests.registry_harness import DistributionRegistry, HakoRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(params=["hako", "distribution"])
def registry(request):
    reg = HakoRegistry() if request.param == "hako" else DistributionRegistry()
    try:
        yield reg.start()
    finally:
        reg.cleanup()


@pytest.fixture
def other_hakod(fresh_hakod):
    d = fresh_hakod()
    return d.start()


def test_push_pull_by_tag_and_digest_run(hakod, other_hakod, docker_cli, registry):
    name = f"{registry.host}/test/bb-{uuid.uuid4().hex[:6]}"
    docker(hakod, docker_cli, "tag", "busybox", f"{name}:v1", check=True)
    try:
        pushed = out(docker(hakod, docker_cli, "push", f"{name}:v1", check=True))
        assert f"The push refers to repository [{name}]" in pushed
        assert "Pushed" in pushed
        digest = re.search(r"v1: digest: (sha256:[0-9a-f]{64}) size: \d+", pushed).group(1)
        again = out(docker(hakod, docker_cli, "push", f"{name}:v1", check=True))
        assert "Layer already exists" in again and digest in again
        repo_digests = out(docker(hakod, docker_cli, "inspect", "-f", "{{json .RepoDigests}}",
                                  f"{name}:v1", check=True))
        assert f"{name}@{digest}" in repo_digests
    finally:
        docker(hakod, docker_cli, "rmi", f"{name}:v1")

    d2 = other_hakod
    pulled = out(docker(d2, docker_cli, "pull", f"{name}:v1", check=True))
    assert "Pull complete" in pulled and f"Digest: {digest}" in pulled
    assert f"Status: Downloaded newer image for {name}:v1" in pulled
    assert out(docker(d2, docker_cli, "run", "--rm", f"{name}:v1", "echo", "ran-by-tag",
                      check=True)).strip() == "ran-by-tag"
    docker(d2, docker_cli, "rmi", f"{name}:v1", check=True)
    assert out(docker(d2, docker_cli, "images", "-q")).strip() == ""

    pulled = out(docker(d2, docker_cli, "pull", f"{name}@{digest}", check=True))
    assert "Pull complete" in pulled
    assert out(docker(d2, docker_cli, "run", "--rm", f"{name}@{digest}", "echo", "ran-by-digest",
                      check=True)).strip() == "ran-by-digest"
    listing = out(docker(d2, docker_cli, "images", "--digests", "--format",
                         "{{.Repository}} {{.Digest}}", check=True))
    assert f"{name} {digest}" in listing
    up = out(docker(d2, docker_cli, "pull", f"{name}@{digest}", check=True))
    assert "Image is up to date" in up
    # a pulled image pushed to another repository: its blobs are mounted, not re-sent, and
    # its original manifest keeps the digest
    docker(d2, docker_cli, "tag", f"{name}@{digest}", f"{name}-copy:v2", check=True)
    pushed = out(docker(d2, docker_cli, "push", f"{name}-copy:v2", check=True))
    assert "Mounted from" in pushed and f"v2: digest: {digest}" in pushed


def test_pull_errors(hakod, docker_cli, registry):
    res = docker(hakod, docker_cli, "pull", f"{registry.host}/no/such:tag")
    assert res.returncode == 1
    assert "manifest unknown" in res.stderr.decode() or "not found" in res.stderr.decode()
    res = docker(hakod, docker_cli, "pull", f"{registry.host}/UPPER")
    assert res.returncode != 0 and "invalid reference format" in res.stderr.decode()
    res = docker(hakod, docker_cli, "push", f"{registry.host}/not/local:tag")
    assert res.returncode == 1
    assert "An image does not exist locally with the tag" in res.stderr.decode()


def test_search_and_info(hakod, fresh_hakod, docker_cli):
    reg = HakoRegistry().start()
    try:
        name = f"{reg.host}/findme/tool-{uuid.uuid4().hex[:6]}"
        docker(hakod, docker_cli, "tag", "busybox", name, check=True)
        try:
            docker(hakod, docker_cli, "push", name, check=True)
        finally:
            docker(hakod, docker_cli, "rmi", name)
        found = out(docker(hakod, docker_cli, "search", f"{reg.host}/findme", check=True))
        assert found.splitlines()[0].split()[:2] == ["NAME", "DESCRIPTION"]
        assert name.split("/", 1)[1] in found
        assert out(docker(hakod, docker_cli, "search", f"{reg.host}/absent", check=True)).count("\n") == 1
        d = fresh_hakod(extra_args=("--registry-mirror", f"http://{reg.host}",
                                    "--insecure-registry", "10.9.0.0/16")).start()
        info = out(docker(d, docker_cli, "info", check=True))
        assert f"http://{reg.host}/" in info and "10.9.0.0/16" in info
    finally:
        reg.cleanup()
