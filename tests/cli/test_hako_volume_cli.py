"""Black-box: ``hako volume ...`` and ``hako system df`` print what the docker CLI prints."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.cli.test_hako_cli import hako, ok

pytestmark = pytest.mark.integration


@pytest.fixture
def vol(hakod):
    n = f"hakovol-{uuid.uuid4().hex[:8]}"
    yield n
    hako(hakod, "rm", "-f", "-v", n + "-c")
    hako(hakod, "volume", "rm", "-f", n)


def test_hako_volume_verbs(hakod, docker_cli, vol):
    assert ok(hakod, "volume", "create", "--label", "k=v", vol) == vol + "\n"
    table = ok(hakod, "volume", "ls", "-f", f"name={vol}")
    from tests.daemon_harness import docker, out

    assert table == out(docker(hakod, docker_cli, "volume", "ls", "-f", f"name={vol}"))
    [doc] = json.loads(ok(hakod, "volume", "inspect", vol))
    assert doc["Labels"] == {"k": "v"} and doc["Driver"] == "local"
    assert ok(hakod, "volume", "inspect", "-f", "{{.Name}}", vol) == vol + "\n"
    ok(hakod, "run", "--name", vol + "-c", "-v", f"{vol}:/d", "busybox", "sh", "-c",
       "echo hi > /d/f")
    res = hako(hakod, "volume", "rm", vol)
    assert res.returncode == 1 and b"volume is in use" in res.stderr
    df = ok(hakod, "system", "df", "-v")
    line = next(ln for ln in df.splitlines() if ln.startswith(vol))
    assert line.split() == [vol, "1", "3B"]
    summary = ok(hakod, "system", "df").splitlines()
    assert summary[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert summary[3].startswith("Local Volumes")
    ok(hakod, "rm", vol + "-c")
    res = ok(hakod, "volume", "prune", "-f", "--filter", "label=k=v")
    assert res == f"Deleted Volumes:\n{vol}\n\nTotal reclaimed space: 3B\n"
    res = hako(hakod, "volume", "inspect", vol)
    assert res.returncode == 1
    assert res.stderr.decode() == f"Error response from daemon: get {vol}: no such volume\n"


def test_hako_cp_both_ways(hakod, tmp_path, vol):
    import io
    import os
    import tarfile

    name = vol + "-c"
    ok(hakod, "run", "--name", name, "-v", f"{vol}:/data", "busybox", "sh", "-c",
       "mkdir -p /srv/t/s && echo a > /srv/t/a && echo b > /srv/t/s/b && ln -s a /srv/t/l")
    ok(hakod, "cp", f"{name}:/srv/t", str(tmp_path / "out"))
    assert (tmp_path / "out" / "a").read_text() == "a\n"
    assert (tmp_path / "out" / "s" / "b").read_text() == "b\n"
    assert os.readlink(tmp_path / "out" / "l") == "a"
    ok(hakod, "cp", f"{name}:/srv/t/.", str(tmp_path / "out"))  # contents into an existing dir
    ok(hakod, "cp", f"{name}:/srv/t/a", str(tmp_path / "out" / "renamed"))
    assert (tmp_path / "out" / "renamed").read_text() == "a\n"
    ok(hakod, "cp", str(tmp_path / "out"), f"{name}:/data/")
    ok(hakod, "cp", str(tmp_path / "out" / "a"), f"{name}:/data/file-a")
    raw = hako(hakod, "cp", f"{name}:/data", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        names = set(tf.getnames())
    assert {"data/out/s/b", "data/out/renamed", "data/file-a"} <= names
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("piped")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"ok"))
    ok(hakod, "cp", "-", f"{name}:/data", input=buf.getvalue())
    res = ok(hakod, "run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/piped", "/v/file-a")
    assert res == "oka\n"
    res = hako(hakod, "cp", f"{name}:/nope", str(tmp_path))
    assert res.returncode == 1 and b"Could not find the file /nope in container" in res.stderr


def test_hako_run_relative_bind_and_mount_volume_options(hakod, tmp_path, vol):
    import os

    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "f").write_text("rel\n")
    res = subprocess_in(hakod, tmp_path, "run", "--rm", "-v", "./rel:/r", "busybox", "cat", "/r/f")
    assert res == "rel\n"
    ok(hakod, "run", "--rm", "--mount",
       f"type=volume,src={vol},dst=/d,volume-label=team=x,volume-nocopy", "busybox", "true")
    import json

    [doc] = json.loads(ok(hakod, "volume", "inspect", vol))
    assert doc["Labels"] == {"team": "x"}
    res = hako(hakod, "run", "--rm", "--mount", "type=volume,dst=/d,bogus=1", "busybox", "true")
    assert res.returncode == 125 and b"unexpected key 'bogus' in 'bogus=1'" in res.stderr
    assert os.listdir(tmp_path / "rel") == ["f"]


def subprocess_in(d, cwd, *args) -> str:
    import subprocess

    from tests.cli.test_hako_cli import HAKO

    res = subprocess.run([*HAKO, *args], capture_output=True, env=dict(d.env), cwd=cwd,
                         timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout.decode()
