"""Black-box: the real docker CLI drives hakod's image verbs (save/load, export/import, tag,
rmi, history, images listing flags, inspect)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from tests.daemon_harness import docker, out, poll

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(hakod, docker_cli):
    """A unique repository name; every image tagged under it is removed afterwards."""
    name = f"imgtest-{uuid.uuid4().hex[:8]}"
    yield name
    ids = set(out(docker(hakod, docker_cli, "images", "-q", "--no-trunc", f"{name}*")).split())
    for ref in out(docker(hakod, docker_cli, "images", "--format", "{{.Repository}}:{{.Tag}}", f"{name}*")).split():
        docker(hakod, docker_cli, "rmi", "-f", ref)
    for image_id in ids:  # only what no other name (busybox:latest) still holds
        tags = out(docker(hakod, docker_cli, "inspect", "-f", "{{len .RepoTags}}", image_id)).strip()
        if tags == "0":
            docker(hakod, docker_cli, "rmi", "-f", image_id)


def image_id(hakod, cli, ref) -> str:
    return out(docker(hakod, cli, "inspect", "-f", "{{.Id}}", ref, check=True)).strip()


def test_tag_inspect_history(hakod, docker_cli, repo):
    docker(hakod, docker_cli, "tag", "busybox", f"{repo}:one", check=True)
    docker(hakod, docker_cli, "tag", f"{repo}:one", f"{repo}:two", check=True)
    info = json.loads(out(docker(hakod, docker_cli, "image", "inspect", f"{repo}:two", check=True)))[0]
    assert info["Id"] == image_id(hakod, docker_cli, "busybox")
    assert {f"{repo}:one", f"{repo}:two", "busybox:latest"} <= set(info["RepoTags"])
    assert info["Config"]["Cmd"] == ["sh"] and info["Os"] == "linux"
    assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 1
    assert info["Size"] > 500_000
    hist = out(docker(hakod, docker_cli, "history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}",
                      f"{repo}:one", check=True)).splitlines()
    assert hist and hist[0].startswith(info["Id"] + "|")
    assert out(docker(hakod, docker_cli, "history", "-q", f"{repo}:one", check=True)).split()[0] == info["Id"][7:19]
    res = docker(hakod, docker_cli, "tag", "nosuchimage:x", f"{repo}:three")
    assert res.returncode == 1 and b"No such image: nosuchimage:x" in res.stderr
    res = docker(hakod, docker_cli, "tag", "busybox", "Bad:Name")
    assert res.returncode != 0 and b"invalid reference format" in res.stderr


def test_images_listing_flags(hakod, docker_cli, repo):
    docker(hakod, docker_cli, "tag", "busybox", f"{repo}:a", check=True)
    full = image_id(hakod, docker_cli, "busybox")
    assert out(docker(hakod, docker_cli, "images", "-q", repo, check=True)).split() == [full[7:19]]
    assert out(docker(hakod, docker_cli, "images", "-q", "--no-trunc", repo, check=True)).split() == [full]
    table = out(docker(hakod, docker_cli, "images", "--no-trunc", repo, check=True)).splitlines()
    assert table[0].split()[:3] == ["REPOSITORY", "TAG", "IMAGE"] and full in table[1]
    digests = out(docker(hakod, docker_cli, "images", "--digests", repo, check=True)).splitlines()
    assert "DIGEST" in digests[0] and digests[1].split()[:3] == [repo, "a", "<none>"]
    # a dangling image appears under dangling=true only
    res = docker(hakod, docker_cli, "import", "-c", 'CMD ["true"]', os.path.join(hakod.root, "busybox.tar"),
                 check=True)
    dangling_id = out(res).strip()
    try:
        dangling = out(docker(hakod, docker_cli, "images", "-q", "--no-trunc", "-f", "dangling=true", check=True))
        assert dangling_id in dangling.split()
        assert full not in dangling.split()
        tagged = out(docker(hakod, docker_cli, "images", "-q", "--no-trunc", "-f", "dangling=false", check=True))
        assert full in tagged.split() and dangling_id not in tagged.split()
        listed = out(docker(hakod, docker_cli, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True))
        assert f"<none>:<none> {dangling_id[7:19]}" in listed
        res = docker(hakod, docker_cli, "images", "-f", "colour=red")
        assert res.returncode != 0 and b"invalid filter 'colour'" in res.stderr
    finally:
        docker(hakod, docker_cli, "rmi", dangling_id, check=True)


def test_save_load_round_trip(hakod, docker_cli, repo, tmp_path):
    res = docker(hakod, docker_cli, "import", "-c", 'CMD ["echo","saved"]', "-c", "ENV A=1",
                 os.path.join(hakod.root, "busybox.tar"), f"{repo}:src", check=True)
    original = out(res).strip()
    docker(hakod, docker_cli, "tag", f"{repo}:src", f"{repo}:second", check=True)
    archive = tmp_path / "img.tar"
    docker(hakod, docker_cli, "save", "-o", str(archive), f"{repo}:src", f"{repo}:second", check=True)
    names = subprocess.run(["tar", "-tf", str(archive)], capture_output=True, check=True).stdout.decode()
    assert "manifest.json" in names.split()
    docker(hakod, docker_cli, "rmi", f"{repo}:src", f"{repo}:second", check=True)
    assert docker(hakod, docker_cli, "inspect", original).returncode == 1
    # docker save | docker load through pipes, as users do it
    save = docker(hakod, docker_cli, "save", "-o", str(tmp_path / "gone.tar"), f"{repo}:src")
    assert save.returncode == 1 and b"No such image" in save.stderr
    res = docker(hakod, docker_cli, "load", "-i", str(archive), check=True)
    assert f"Loaded image: {repo}:src" in out(res) and f"Loaded image: {repo}:second" in out(res)
    assert image_id(hakod, docker_cli, f"{repo}:src") == original
    assert image_id(hakod, docker_cli, f"{repo}:second") == original
    piped = subprocess.run(f"{docker_cli} save {repo}:src | {docker_cli} load", shell=True, env=hakod.env,
                           capture_output=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert f"Loaded image: {repo}:src" in piped.stdout.decode()
    res = docker(hakod, docker_cli, "run", "--rm", f"{repo}:second", check=True)
    assert out(res) == "saved\n"
    assert out(docker(hakod, docker_cli, "run", "--rm", f"{repo}:src", "sh", "-c", "echo $A")) == "1\n"


def test_export_import_run(hakod, docker_cli, repo, tmp_path):
    cid = out(docker(hakod, docker_cli, "run", "-d", "busybox", "sh", "-c",
                     "echo exported > /marker; sleep 1000", check=True)).strip()
    try:
        archive = tmp_path / "fs.tar"
        poll(lambda: "A /marker" in out(docker(hakod, docker_cli, "diff", cid)))
        docker(hakod, docker_cli, "export", "-o", str(archive), cid, check=True)
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    res = docker(hakod, docker_cli, "import", "-c", 'CMD ["cat","/marker"]', "-m", "from export",
                 str(archive), f"{repo}:imported", check=True)
    new_id = out(res).strip()
    assert new_id.startswith("sha256:") and len(new_id) == 71
    assert out(docker(hakod, docker_cli, "run", "--rm", f"{repo}:imported", check=True)) == "exported\n"
    hist = out(docker(hakod, docker_cli, "history", "--format", "{{.Comment}}", f"{repo}:imported", check=True))
    assert "from export" in hist
    # import from stdin, with a CMD change
    with open(archive, "rb") as f:
        res = docker(hakod, docker_cli, "import", "-c", 'CMD ["echo","x"]', "-", f"{repo}:stdin", input=f.read(),
                     check=True)
    assert out(docker(hakod, docker_cli, "run", "--rm", f"{repo}:stdin", check=True)) == "x\n"
    cmd = out(docker(hakod, docker_cli, "inspect", "-f", "{{json .Config.Cmd}}", f"{repo}:stdin", check=True))
    assert json.loads(cmd) == ["echo", "x"]
    res = docker(hakod, docker_cli, "import", "-c", "BOGUS x", str(archive), f"{repo}:bad")
    assert res.returncode != 0 and docker(hakod, docker_cli, "inspect", f"{repo}:bad").returncode == 1


def test_rmi_untag_delete_conflict_force(hakod, docker_cli, repo):
    res = docker(hakod, docker_cli, "import", "-c", 'CMD ["true"]', os.path.join(hakod.root, "busybox.tar"),
                 f"{repo}:x", check=True)
    img = out(res).strip()
    docker(hakod, docker_cli, "tag", f"{repo}:x", f"{repo}:y", check=True)
    # two tags: removing one only untags
    res = docker(hakod, docker_cli, "rmi", f"{repo}:y", check=True)
    assert out(res) == f"Untagged: {repo}:y\n"
    assert image_id(hakod, docker_cli, f"{repo}:x") == img
    # by id while several repos point at it: conflict without -f
    docker(hakod, docker_cli, "tag", f"{repo}:x", f"{repo}-other:z", check=True)
    res = docker(hakod, docker_cli, "rmi", img[7:19])
    assert res.returncode == 1 and b"must be forced" in res.stderr and b"referenced in multiple repositories" in res.stderr
    docker(hakod, docker_cli, "rmi", f"{repo}-other:z", check=True)
    # a container uses it: conflict; -f removes it anyway (Docker: only running containers block
    # a forced removal) and the container keeps its root filesystem
    cid = out(docker(hakod, docker_cli, "create", f"{repo}:x", "echo", "still-runs", check=True)).strip()
    try:
        res = docker(hakod, docker_cli, "rmi", img)
        assert res.returncode == 1
        assert f"image is being used by stopped container {cid[:12]}".encode() in res.stderr
        assert image_id(hakod, docker_cli, f"{repo}:x") == img
        res = docker(hakod, docker_cli, "rmi", "-f", f"{repo}:x", check=True)
        assert f"Untagged: {repo}:x" in out(res) and f"Deleted: {img}" in out(res)
        assert docker(hakod, docker_cli, "inspect", img).returncode == 1
        assert out(docker(hakod, docker_cli, "inspect", "-f", "{{.Image}}", cid, check=True)).strip() == img
        res = docker(hakod, docker_cli, "start", "-a", cid)
        assert res.returncode == 0 and out(res) == "still-runs\n", res.stderr
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)
    # unused and untagged: removing by id deletes it
    other = out(docker(hakod, docker_cli, "import", os.path.join(hakod.root, "busybox.tar"), check=True)).strip()
    res = docker(hakod, docker_cli, "rmi", other[7:19], check=True)
    assert out(res) == f"Deleted: {other}\n"
    assert docker(hakod, docker_cli, "inspect", other).returncode == 1
    res = docker(hakod, docker_cli, "rmi", "nosuchimage:zz")
    assert res.returncode == 1 and b"No such image: nosuchimage:zz" in res.stderr
