"""Black-box: ``docker cp`` (the /containers/{id}/archive endpoints) through the real docker
CLI, both ways, on running and stopped containers, into volumes, and with hostile paths.

Every test removes the containers, volumes and host files it made, even on failure.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import uuid

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration


@pytest.fixture
def made(hakod, docker_cli):
    things = {"containers": [], "dirs": [], "volumes": []}
    yield things
    for c in things["containers"]:
        docker(hakod, docker_cli, "rm", "-f", "-v", c)
    for v in things["volumes"]:
        docker(hakod, docker_cli, "volume", "rm", "-f", v)
    for d in things["dirs"]:
        shutil.rmtree(d, ignore_errors=True)


def _tmp(made) -> str:
    d = tempfile.mkdtemp(prefix="hako-cp-", dir="/tmp")
    made["dirs"].append(d)
    return d


def _container(hakod, docker_cli, made, *args, script="true", run=True) -> str:
    name = f"cp-{uuid.uuid4().hex[:8]}"
    made["containers"].append(name)
    verb = ["run"] if run else ["create"]
    docker(hakod, docker_cli, *verb, "--name", name, *args, "busybox", "sh", "-c", script,
           check=True)
    return name


def test_cp_both_ways_stopped_container(hakod, docker_cli, made):
    name = _container(hakod, docker_cli, made, script="mkdir -p /srv/d/sub && echo one > "
                      "/srv/d/a && echo two > /srv/d/sub/b && ln -sf a /srv/d/link")
    host = _tmp(made)
    docker(hakod, docker_cli, "cp", f"{name}:/srv/d", host, check=True)
    assert open(os.path.join(host, "d", "a")).read() == "one\n"
    assert open(os.path.join(host, "d", "sub", "b")).read() == "two\n"
    assert os.readlink(os.path.join(host, "d", "link")) == "a"
    with open(os.path.join(host, "up.txt"), "w") as f:
        f.write("up\n")
    docker(hakod, docker_cli, "cp", os.path.join(host, "up.txt"), f"{name}:/srv/d/sub/", check=True)
    docker(hakod, docker_cli, "cp", os.path.join(host, "d"), f"{name}:/copied", check=True)
    docker(hakod, docker_cli, "start", "-a", name, check=True)  # still starts after cp
    res = docker(hakod, docker_cli, "run", "--rm", "--volumes-from", name, "busybox", "true")
    assert res.returncode == 0
    host2 = _tmp(made)
    docker(hakod, docker_cli, "cp", f"{name}:/srv/d/sub/up.txt", host2, check=True)
    assert open(os.path.join(host2, "up.txt")).read() == "up\n"
    docker(hakod, docker_cli, "cp", f"{name}:/copied/sub/b", os.path.join(host2, "b2"), check=True)
    assert open(os.path.join(host2, "b2")).read() == "two\n"


def test_cp_running_container_and_stdout_tar(hakod, docker_cli, made):
    name = _container(hakod, docker_cli, made, "-d",
                      script="echo hello > /greeting && sleep 60")
    from tests.daemon_harness import poll

    poll(lambda: docker(hakod, docker_cli, "exec", name, "test", "-f", "/greeting").returncode == 0)
    res = docker(hakod, docker_cli, "cp", f"{name}:/greeting", "-", check=True)
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        assert tf.getnames() == ["greeting"]
        assert tf.extractfile("greeting").read() == b"hello\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("fromtar/x")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    docker(hakod, docker_cli, "cp", "-", f"{name}:/tmp", input=buf.getvalue(), check=True)
    res = docker(hakod, docker_cli, "exec", name, "cat", "/tmp/fromtar/x", check=True)
    assert out(res) == "abc"


def test_cp_into_volume(hakod, docker_cli, made):
    vol = f"cpvol-{uuid.uuid4().hex[:8]}"
    made["volumes"].append(vol)
    name = _container(hakod, docker_cli, made, "-v", f"{vol}:/data", run=False)
    host = _tmp(made)
    with open(os.path.join(host, "f"), "w") as f:
        f.write("in volume\n")
    docker(hakod, docker_cli, "cp", os.path.join(host, "f"), f"{name}:/data/f", check=True)
    res = docker(hakod, docker_cli, "run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/f",
                 check=True)
    assert out(res) == "in volume\n"


def test_cp_missing_path(hakod, docker_cli, made):
    name = _container(hakod, docker_cli, made)
    res = docker(hakod, docker_cli, "cp", f"{name}:/nope", _tmp(made))
    assert res.returncode == 1
    assert "Could not find the file /nope in container" in res.stderr.decode()


def test_cp_escape_through_container_symlinks_writes_nothing_outside(hakod, docker_cli, made):
    outside = _tmp(made)
    name = _container(hakod, docker_cli, made, script=(
        f"ln -s {outside} /escape && ln -s ../../../../../../{outside.lstrip('/')} /rel && "
        "ln -s /etc/passwd /pw"))
    host = _tmp(made)
    with open(os.path.join(host, "payload"), "w") as f:
        f.write("pwned\n")
    for dest in ("/escape", "/rel", "/escape/", "/rel/sub/../"):
        docker(hakod, docker_cli, "cp", os.path.join(host, "payload"), f"{name}:{dest}")
    assert os.listdir(outside) == []
    # what was written went inside the container's root
    res = docker(hakod, docker_cli, "export", name, check=True)
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        written = [m.name for m in tf.getmembers()
                   if m.isfile() and tf.extractfile(m).read() == b"pwned\n"]
    assert written and all(w.startswith(outside.lstrip("/")) for w in written), written
    # reading through a link never reads the host's file
    res = docker(hakod, docker_cli, "cp", "-L", f"{name}:/pw", "-", check=True)
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
        data = tf.extractfile(tf.getmembers()[0]).read()
    inside = out(docker(hakod, docker_cli, "run", "--rm", "busybox", "cat", "/etc/passwd",
                        check=True))
    assert data.decode() == inside


def test_cp_to_stdout_abandoned_by_its_reader_frees_the_container(hakod, docker_cli, made):
    """``docker cp ctr:/big - | head -c N``: the reader hangs up, the CLI dies of the broken
    pipe mid-answer. The container must be free at once: another ``cp`` and ``rm -f``
    finish in time (before, the daemon's cleanup could be cancelled halfway by the
    disconnect and keep the container's lock for ever)."""
    import subprocess

    name = _container(hakod, docker_cli, made, script="head -c 16777216 /dev/urandom > /big")
    for _ in range(3):
        proc = subprocess.Popen([docker_cli, "cp", f"{name}:/big", "-"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=hakod.env)
        try:
            assert len(proc.stdout.read(65536)) == 65536
        finally:
            proc.stdout.close()  # the reader goes away: the CLI's next write fails
            proc.wait(timeout=30)
        res = docker(hakod, docker_cli, "cp", f"{name}:/etc/hostname", "-", timeout=20,
                     check=True)
        with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
            assert tf.getnames() == ["hostname"]
    docker(hakod, docker_cli, "rm", "-f", name, timeout=20, check=True)
