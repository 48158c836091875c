"""Black-box: the real docker CLI commits containers on hakod, then runs, inspects, diffs,
shows the history of, and prunes the results."""

from __future__ import annotations

import functools
import json
import os
import subprocess

import pytest

from tests import daemon_harness
from tests.daemon_harness import out

docker = functools.partial(daemon_harness.docker, check=True)

pytestmark = pytest.mark.integration


@pytest.fixture
def made(hakod, docker_cli):
    """Names of containers and images the test makes; removed afterwards."""
    things = {"containers": [], "images": []}
    yield things
    for c in things["containers"]:
        docker(hakod, docker_cli, "rm", "-f", c, check=False)
    for i in reversed(things["images"]):
        docker(hakod, docker_cli, "rmi", "-f", i, check=False)


def _name(kind: str) -> str:
    return f"commit-{kind}-{os.getpid()}-{os.urandom(3).hex()}"


def test_commit_with_change_author_message_then_run(hakod, docker_cli, made):
    c, image = _name("c"), _name("img") + ":v1"
    made["containers"].append(c)
    made["images"].append(image)
    docker(hakod, docker_cli, "run", "--name", c, "busybox", "sh", "-c",
           "echo made > /made.txt && rm /etc/group")
    res = docker(hakod, docker_cli, "commit", "-a", "Jane <j@x>", "-m", "my message",
                 "-c", 'CMD ["cat","/made.txt"]', c, image)
    image_id = out(res).strip()
    assert image_id.startswith("sha256:")
    run = docker(hakod, docker_cli, "run", "--rm", image)
    assert out(run) == "made\n"
    info = json.loads(out(docker(hakod, docker_cli, "image", "inspect", image)))[0]
    base = json.loads(out(docker(hakod, docker_cli, "image", "inspect", "busybox")))[0]
    assert info["Id"] == image_id and info["Author"] == "Jane <j@x>"
    assert info["Comment"] == "my message" and info["Config"]["Cmd"] == ["cat", "/made.txt"]
    assert info["Parent"] == base["Id"]
    assert info["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]
    assert info["ContainerConfig"]["Cmd"] == ["sh", "-c", "echo made > /made.txt && rm /etc/group"]
    assert info["Container"].startswith(out(docker(hakod, docker_cli, "inspect", "-f", "{{.Id}}", c)).strip())
    run = docker(hakod, docker_cli, "run", "--rm", image, "ls", "/etc/group", check=False)
    assert run.returncode != 0
    hist = out(docker(hakod, docker_cli, "history", "--no-trunc", "--format",
                      "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", image)).splitlines()
    assert hist[0].startswith(image_id + "|sh -c echo made")
    assert hist[0].endswith("|my message")
    assert hist[-1].startswith("<missing>|") or len(hist) == 2


def test_commit_running_container_pauses_and_keeps_it_running(hakod, docker_cli, made):
    c, image = _name("run"), _name("live")
    made["containers"].append(c)
    made["images"].append(image)
    docker(hakod, docker_cli, "run", "-d", "--name", c, "busybox", "sh", "-c",
           "echo live > /live && exec sleep 60")
    for _ in range(200):  # poll until the file exists (the shell ran)
        if docker(hakod, docker_cli, "exec", c, "cat", "/live", check=False).returncode == 0:
            break
    docker(hakod, docker_cli, "commit", c, image)
    state = out(docker(hakod, docker_cli, "inspect", "-f", "{{.State.Status}}", c)).strip()
    assert state == "running"
    res = docker(hakod, docker_cli, "run", "--rm", "--entrypoint", "cat", image, "/live")
    assert out(res) == "live\n"
    cfg = json.loads(out(docker(hakod, docker_cli, "image", "inspect", "-f", "{{json .Config.Cmd}}", image)))
    assert cfg == ["sh", "-c", "echo live > /live && exec sleep 60"]


def test_commit_body_config_and_bad_change(hakod, docker_cli, made):
    c = _name("bad")
    made["containers"].append(c)
    docker(hakod, docker_cli, "create", "--name", c, "-e", "A=1", "busybox", "true")
    res = docker(hakod, docker_cli, "commit", "-c", "RUN true", c, check=False)
    assert res.returncode != 0 and b"RUN is not a valid change command" in res.stderr
    res = docker(hakod, docker_cli, "commit", "-c", "ENV B=2", c)
    image_id = out(res).strip()
    made["images"].append(image_id)
    env = json.loads(out(docker(hakod, docker_cli, "image", "inspect", "-f", "{{json .Config.Env}}", image_id)))
    assert "A=1" in env and "B=2" in env
    listed = out(docker(hakod, docker_cli, "images", "--filter", "dangling=true", "--format",
                        "{{.Repository}}:{{.Tag}} {{.ID}}"))
    assert f"<none>:<none> {image_id[7:19]}" in listed


def test_image_prune_dangling_and_all(hakod, docker_cli, made):
    c = _name("prune")
    made["containers"].append(c)
    docker(hakod, docker_cli, "run", "--name", c, "busybox", "sh", "-c", "echo x > /x")
    dangling = out(docker(hakod, docker_cli, "commit", "-c", "LABEL prunetest=1", c)).strip()
    tagged = _name("kept")
    docker(hakod, docker_cli, "commit", "-c", "LABEL prunetest=1", c, tagged)
    made["images"] += [dangling, tagged]
    res = docker(hakod, docker_cli, "image", "prune", "-f", "--filter", "label=prunetest=1")
    assert f"deleted: {dangling}" in out(res) and "Total reclaimed space" in out(res)
    assert docker(hakod, docker_cli, "image", "inspect", dangling, check=False).returncode != 0
    assert docker(hakod, docker_cli, "image", "inspect", tagged).returncode == 0
    res = docker(hakod, docker_cli, "image", "prune", "-a", "-f", "--filter", "label=prunetest=1")
    assert f"untagged: {tagged}:latest" in out(res)
    assert docker(hakod, docker_cli, "image", "inspect", tagged, check=False).returncode != 0
    assert docker(hakod, docker_cli, "image", "inspect", "busybox").returncode == 0


HAKO = [__import__("sys").executable, "-m", "hako.cli"]


def hako(d, *args, input=None, check=True):
    res = subprocess.run([*HAKO, *args], input=input, capture_output=True, env=d.env, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"hako {' '.join(args)} failed ({res.returncode}): {res.stderr.decode()}")
    return res


def test_hako_commit_flags_and_seed_run_spelling(hakod, docker_cli, made):
    c, image = _name("hk"), _name("hkimg")
    made["containers"].append(c)
    made["images"] += [image + ":v2", image + ":seed"]
    hako(hakod, "run", "--name", c, "busybox", "sh", "-c", "echo hk > /hk")
    res = hako(hakod, "commit", "-a", "me", "-m", "why", "-c", 'CMD ["cat","/hk"]', c, image + ":v2")
    assert out(res).strip().startswith("sha256:")
    assert out(hako(hakod, "run", "--rm", image + ":v2")) == "hk\n"
    # the seed's docker 0.x spelling: -run / --run with a JSON config
    res = hako(hakod, "commit", "-run", '{"Cmd": ["ls", "/hk"], "Env": ["X=1"]}', c, image + ":seed")
    assert b"deprecated" in res.stderr
    assert out(hako(hakod, "run", "--rm", image + ":seed")) == "/hk\n"
    env = out(hako(hakod, "image", "inspect", "-f", "{{json .Config.Env}}", image + ":seed"))
    assert "X=1" in json.loads(env)
    hist = out(hako(hakod, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}",
                    image + ":v2")).splitlines()
    assert hist[0] == "sh -c echo hk > /hk|why"
    res = hako(hakod, "commit", "nosuchcontainer-xyz", check=False)
    assert res.returncode == 1 and b"No such container: nosuchcontainer-xyz" in res.stderr


def test_docker_diff_lists_added_changed_deleted(hakod, docker_cli, made):
    c = _name("diff")
    made["containers"].append(c)
    docker(hakod, docker_cli, "run", "--name", c, "busybox", "sh", "-c",
           "echo made > /made.txt && rm /etc/group && mkdir -p /tmp/d && touch /tmp/d/f")
    lines = out(docker(hakod, docker_cli, "diff", c)).splitlines()
    assert lines == ["C /etc", "D /etc/group", "A /made.txt", "C /tmp", "A /tmp/d", "A /tmp/d/f"]
