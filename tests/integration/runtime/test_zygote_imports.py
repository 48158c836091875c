"""The zygote's preload covers what a container's start imports.

A shim forked from the zygote runs hako-runtime's ``create`` and ``start`` in forks of
itself and ``delete`` in its own process. Any module those import that the zygote did not
preload is imported again in every container's shim and runtime children: finding, reading
and executing it cost more CPU per container than the whole Python side of the start did
(``hako.linux.idmaps`` importing ``shutil`` and ``subprocess`` pulled in ``threading``,
``locale``, ``lzma`` and ``bz2`` on every start). This runs the real create, start and
delete of a busybox bundle in an interpreter that imported exactly the zygote's preload, and
fails naming any module the calls imported on top.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.integration.runtime.conftest import REPO, _requirements, base_spec, make_rootfs

_PROBE = r"""
import importlib, json, os, sys, time
from hako.runtime import zygote
for name in zygote.preload():
    importlib.import_module(name)
before = set(sys.modules)
from hako.runtime import cli
root, bundle, cid = sys.argv[1:4]
codes = [cli.main(["--root", root, "create", "--bundle", bundle, cid]),
         cli.main(["--root", root, "start", cid])]
os.waitpid(-1, 0)  # the init (our child: no subreaper here) ran `true` and exited
codes.append(cli.main(["--root", root, "delete", cid]))
print(json.dumps({"codes": codes, "new": sorted(set(sys.modules) - before)}))
"""


@pytest.fixture
def bundle():
    reason = _requirements("hako")
    if reason:
        pytest.skip(reason)
    tmp = tempfile.mkdtemp(prefix="hako-zyg-imports-")
    try:
        path = os.path.join(tmp, "bundle")
        make_rootfs(os.path.join(path, "rootfs"))
        spec = base_spec(path)
        spec["process"]["args"] = ["true"]
        spec["linux"]["cgroupsPath"] = f"/hako-test-zyg-{os.getpid()}"
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(spec, f)
        yield tmp, path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_create_start_delete_import_nothing_beyond_the_preload(bundle):
    tmp, path = bundle
    root = os.path.join(tmp, "state")
    cid = f"hako-zyg-{os.getpid()}"
    with tempfile.TemporaryFile() as out:  # a file: the init inherits the probe's stdio
        proc = subprocess.run([sys.executable, "-S", "-c", _PROBE, root, path, cid], cwd=REPO,
                              stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE,
                              timeout=60, env={**os.environ, "PYTHONPATH": REPO})
        out.seek(0)
        text = out.read().decode()
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(text.strip().splitlines()[-1])
    assert result["codes"] == [0, 0, 0], proc.stderr.decode()
    assert result["new"] == [], f"imported on every start, not preloaded: {result['new']}"
