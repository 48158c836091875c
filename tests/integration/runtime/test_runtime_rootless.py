"""hako-runtime run by an unprivileged user: the user namespace's maps go through
newuidmap/newgidmap (issue 11), with runc (rootless) as the oracle where it can run.

The user is made here with one subordinate range and removed afterwards with everything
it ran; its bundle lives in a directory it owns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from tests.integration.runtime.conftest import BUSYBOX, base_spec, make_rootfs
from tests.rootless_harness import RootlessUser, system_python_ok

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def user():
    why = system_python_ok() or ("" if os.path.exists(BUSYBOX) else "needs busybox-static")
    if why or os.geteuid() != 0:
        pytest.skip(why or "needs root to make the user")
    u = RootlessUser()
    try:
        yield u.create()
    finally:
        u.remove()


def _bundle(u: RootlessUser, maps: list[dict]) -> str:
    top = tempfile.mkdtemp(prefix="bundle-", dir=u.run_dir)
    bundle = os.path.join(top, "b")
    os.makedirs(bundle)
    make_rootfs(os.path.join(bundle, "rootfs"))
    spec = base_spec(bundle)
    spec["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map; id -u; touch /tmp/made; "
                                           "chown 5:5 /tmp/made; stat -c %u /tmp/made"]
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "cgroup"] \
        + ([{"type": "user"}] if not any(n["type"] == "user" for n in spec["linux"]["namespaces"]) else [])
    spec["linux"]["uidMappings"] = maps
    spec["linux"]["gidMappings"] = maps
    spec["root"]["readonly"] = False
    for key in ("bounding", "effective", "permitted"):  # runc spec's set lacks CAP_CHOWN
        spec["process"]["capabilities"][key] = list(spec["process"]["capabilities"][key]) + ["CAP_CHOWN"]
    spec["linux"].pop("resources", None)  # no cgroup of the user's own: nothing to limit
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", top], check=True)
    return bundle


def _run(u: RootlessUser, runtime: list[str], bundle: str, cid: str) -> subprocess.CompletedProcess:
    root = os.path.join(u.run_dir, "rt-" + os.path.basename(runtime[-1]))
    return subprocess.run(u.argv(*runtime, "--root", root, "run", "--bundle", bundle, cid),
                          capture_output=True, text=True, timeout=60, cwd="/")


@pytest.mark.parametrize("runtime", ["hako", "runc"])
def test_unprivileged_runtime_maps_a_range_with_newuidmap(user, runtime):
    if runtime == "runc" and not shutil.which("runc"):
        pytest.skip("runc is not installed")
    argv = [os.path.join(user.bin_dir, "hako-runtime")] if runtime == "hako" else ["runc"]
    maps = [{"containerID": 0, "hostID": user.uid, "size": 1},
            {"containerID": 1, "hostID": user.start, "size": 65536}]
    out = _run(user, argv, _bundle(user, maps), f"rl-{runtime}")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0].split() == ["0", str(user.uid), "1"]
    assert lines[1].split() == ["1", str(user.start), "65536"]
    assert lines[2:5] == ["0", "5", ""]  # root inside, and uid 5 is a mapped id it may chown to


def test_unprivileged_runtime_outside_the_users_ranges_is_refused(user):
    maps = [{"containerID": 0, "hostID": user.uid, "size": 1},
            {"containerID": 1, "hostID": 1, "size": 1000}]  # not the user's to map
    out = _run(user, [os.path.join(user.bin_dir, "hako-runtime")], _bundle(user, maps), "rl-bad")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "newuidmap" in out.stderr, out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) == 1, out.stderr
