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
