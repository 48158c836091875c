"""Interop with the reference engine: an image hakod pushes to `hako registry serve` is pulled
and run by Debian's dockerd, and an image dockerd pushes is pulled and run by hakod, with the
same manifest digest on both sides. dockerd runs privately (its own containerd, sockets and
directories under a temporary directory, no bridge and no firewall rules: bench/dockerd.py's
PrivateDocker), and its containers get no network."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ref_docker():
    missing = [b for b in ("dockerd", "containerd", "runc") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"needs Debian's docker.io for a reference dockerd (missing: {', '.join(missing)}); "
                    "`make install` adds it")
    from bench.dockerd import PrivateDocker

    ref = PrivateDocker()
    try:
        ref.start()
        yield ref
    finally:
        ref.cleanup()



def ref_cli(ref, docker_cli, *args, check=True):
    env = dict(os.environ, DOCKER_HOST=ref.host, DOCKER_CONFIG=os.path.join(ref.root, "cli"))
    res = subprocess.run([docker_cli, *args], capture_output=True, env=env, timeout=120)
    if check:
        assert res.returncode == 0, f"reference docker {' '.join(args)}: {res.stderr.decode()}"
    return res


def test_hakod_push_dockerd_pull_and_back(hakod, docker_cli, ref_docker, hako_registry):
    name = f"{hako_registry.host}/interop/from-hako:{uuid.uuid4().hex[:6]}"
    back = f"{hako_registry.host}/interop/from-docker:{uuid.uuid4().hex[:6]}"
    docker(hakod, docker_cli, "tag", "busybox", name, check=True)
    try:
        docker(hakod, docker_cli, "push", name, check=True)
        ref_cli(ref_docker, docker_cli, "pull", name)
        run = ref_cli(ref_docker, docker_cli, "run", "--rm", "--network", "none", name, "echo", "hello from hako")
        assert run.stdout.decode() == "hello from hako\n"
        ours = out(docker(hakod, docker_cli, "image", "inspect", "--format", "{{json .RepoDigests}}", name,
                          check=True))
        theirs = ref_cli(ref_docker, docker_cli, "image", "inspect", "--format", "{{json .RepoDigests}}",
                         name).stdout.decode()
        assert ours.strip() == theirs.strip() and "sha256:" in ours

        # and back: dockerd pushes its own tag of that image, hakod pulls and runs it
        ref_cli(ref_docker, docker_cli, "tag", name, back)
        ref_cli(ref_docker, docker_cli, "push", back)
        docker(hakod, docker_cli, "pull", back, check=True)
        res = docker(hakod, docker_cli, "run", "--rm", back, "echo", "hello from docker", check=True)
        assert out(res) == "hello from docker\n"
        docker(hakod, docker_cli, "rmi", back)
    finally:
        docker(hakod, docker_cli, "rmi", name)
        # the reference dockerd is shared by the module (the test runs once per client):
        # its tags, and with them its digest references of these repositories, go too
        ref_cli(ref_docker, docker_cli, "rmi", name, back, check=False)
