"""hako-runtime never runs a container without the cgroup limits its spec asks for.

The runtime runs in a private mount namespace where /sys/fs/cgroup shows every v1 hierarchy
except one (``memory`` or ``devices``): a spec asking for that subsystem's limits must fail
to start, and leave nothing behind; a spec asking nothing of an absent optional hierarchy
still runs.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from hako.runtime.cgroups.detect import is_v2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="requires root"),
    pytest.mark.skipif(is_v2("/sys/fs/cgroup") or not os.path.isdir("/sys/fs/cgroup/memory"),
                       reason="requires cgroup v1 with the memory hierarchy"),
]

HIDE = r'''
set -e
hide="$1"; shift
T=$(mktemp -d)
mount -t tmpfs cg "$T"
for e in /sys/fs/cgroup/*; do
  n=$(basename "$e")
  [ "$n" = "$hide" ] && continue
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$T/$n"
  else mkdir "$T/$n"; mount --bind "$e" "$T/$n"; fi
done
mount --rbind "$T" /sys/fs/cgroup
exec "$@"
'''


def _run_hidden(rt, hide: str, resources: dict) -> subprocess.CompletedProcess:
    import json

    rt.write_spec(args=["sh", "-c", "echo ran"])
    path = os.path.join(rt.bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["linux"]["resources"] = resources
    # the in-container cgroupfs view mounts every hierarchy the kernel lists for us; with one
    # hidden only from our mount table that mount cannot work, and is not what is tested
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    with open(path, "w") as f:
        json.dump(spec, f)
    cid = rt.new_id()
    from tests.integration.runtime.conftest import REPO, RUNTIMES

    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", HIDE, "sh", hide,
            *RUNTIMES[rt.name], "--root", rt.root, "run", "--bundle", rt.bundle, cid]
    return subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)


# hako-runtime's own rule (runc runs such containers without the limit): hako-runtime only
HAKO_ONLY = pytest.mark.parametrize("rt", ["hako"], indirect=True)


@HAKO_ONLY
def test_memory_limit_without_memory_hierarchy_refuses_to_run(rt):
    res = _run_hidden(rt, "memory", {"memory": {"limit": 64 << 20}})
    assert res.returncode != 0, res
    assert "ran" not in res.stdout
    assert "memory" in res.stderr and "not mounted" in res.stderr, res.stderr
    assert not os.listdir(rt.root) if os.path.isdir(rt.root) else True


@HAKO_ONLY
def test_device_rules_without_devices_hierarchy_refuse_to_run(rt):
    res = _run_hidden(rt, "devices", {"devices": [{"allow": False, "access": "rwm"}]})
    assert res.returncode != 0, res
    assert "ran" not in res.stdout
    assert "devices" in res.stderr and "not mounted" in res.stderr, res.stderr


@HAKO_ONLY
def test_absent_hierarchy_nothing_asked_still_runs(rt):
    res = _run_hidden(rt, "memory", {"devices": [{"allow": False, "access": "rwm"}],
                                     "pids": {"limit": 100}})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ran"


@HAKO_ONLY
def test_memory_limit_with_hierarchy_runs(rt):
    res = _run_hidden(rt, "net_cls", {"memory": {"limit": 64 << 20}})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ran"


def _kmem_limits_hold() -> bool:
    """Whether this kernel still applies memory.kmem.limit_in_bytes (gone since 5.16)."""
    d = f"/sys/fs/cgroup/memory/hako-kmem-probe-{os.getpid()}"
    os.mkdir(d)
    try:
        with open(f"{d}/memory.kmem.limit_in_bytes", "w") as f:
            f.write(str(64 << 20))
        with open(f"{d}/memory.kmem.limit_in_bytes") as f:
            return int(f.read()) == 64 << 20
    finally:
        os.rmdir(d)


def test_kernel_memory_limit_is_applied_or_refused(rt):
    """memory.kernel: runc 1.1 ignores it; hako-runtime applies it, or refuses it where the
    kernel ignores the limit. memory.kernelTCP is applied by hako-runtime."""
    rt.spec["linux"]["resources"] = {"memory": {"kernel": 64 << 20, "kernelTCP": 16 << 20}}
    cg = rt.write_spec(args=["cat", "/proc/self/cgroup"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    if rt.name == "runc" or _kmem_limits_hold():
        assert out.returncode == 0, out.stderr
        if rt.name == "hako":
            with open(f"/sys/fs/cgroup/memory{cg}/memory.kmem.tcp.limit_in_bytes") as f:
                assert int(f.read()) == 16 << 20
        return
    assert out.returncode == 1
    assert "does not apply kernel memory limits" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert rt.cmd("state", cid).returncode == 1
    assert rt.leftover_cgroups() == []
