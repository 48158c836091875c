"""The zygote's preload covers what a container's start imports.

A shim forked from the zygote runs hako-runtime's ``create`` and ``start`` in forks of
itself and ``delete`` in its own process. Any module those import that the zygote did not
preload is imported again in every container's shim and runtime children: finding, reading
and executing it cost more CPU per container than the whole Python side of the start did
(``hako.linux.idmaps`` importing ``shutil`` and ``subprocess`` pulled in ``threading``,
``locale``, ``lzma`` and ``bz2`` on every start). This runs the real create, start and
delete of a busybox bundle in an interpreter that imported exactly the zygote's preload, and
fails naming any module the calls (or the container's init, until its execve) imported on
top.
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
import importlib, json, os, sys
from hako.runtime import zygote
for name in zygote.preload():
    importlib.import_module(name)
root, bundle, cid, log = sys.argv[1:5]
log_fd = os.open(log, os.O_WRONLY | os.O_APPEND)  # inherited by the forked init


class Spy:
    # asked only for modules not imported yet, in this process and in its forks (the
    # container's init runs Python until its execve, after pivot_root: the fd still writes)
    def find_spec(self, name, path=None, target=None):
        os.write(log_fd, f"{name}\n".encode())
        return None


sys.meta_path.insert(0, Spy())
from hako.runtime import cli
codes = [cli.main(["--root", root, "create", "--bundle", bundle, cid]),
         cli.main(["--root", root, "start", cid])]
os.waitpid(-1, 0)  # the init (our child: no subreaper here) ran `true` and exited
codes.append(cli.main(["--root", root, "delete", cid]))
print(json.dumps({"codes": codes}))
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
    log = os.path.join(tmp, "imports.log")
    open(log, "w").close()
    with tempfile.TemporaryFile() as out:  # a file: the init inherits the probe's stdio
        proc = subprocess.run([sys.executable, "-S", "-c", _PROBE, root, path, cid, log],
                              cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.PIPE, timeout=60,
                              env={**os.environ, "PYTHONPATH": REPO})
        out.seek(0)
        text = out.read().decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(text.strip().splitlines()[-1])["codes"] == [0, 0, 0], proc.stderr.decode()
    with open(log) as f:
        imported = sorted(set(f.read().split()))
    assert imported == [], f"imported on every start (runtime or init), not preloaded: {imported}"
