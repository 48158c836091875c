"""The generated config.json is accepted by runc (the reference runtime) and behaves like Docker.

Builds a busybox bundle in a temp dir, runs ``runc run`` with specgen's output and checks
what the container sees (caps, masked paths, cgroup limits), then removes everything.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess

import pytest

from hako.runtime import specgen as sg
from hako.runtime.cgroups import base
from hako.runtime.cgroups.detect import is_v2
from hako.runtime.cgroups.v1 import discover_hierarchies

BUSYBOX = "/bin/busybox"
TINI = "/usr/bin/tini-static"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="requires root"),
    pytest.mark.skipif(not shutil.which("runc"), reason="requires runc"),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="requires busybox-static"),
    pytest.mark.skipif(is_v2(), reason="checks v1 cgroup files"),
]


@pytest.fixture
def bundle(tmp_path):
    rootfs = tmp_path / "rootfs"
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    for name in applets.stdout.split():
        if name != "busybox":
            os.symlink("busybox", rootfs / "bin" / name)
    return tmp_path


@pytest.fixture
def container(bundle):
    cid = f"hako-specgen-{os.getpid()}-{secrets.token_hex(3)}"
    parent = f"/hako-test-{cid}"
    state = {"id": cid, "parent": parent}
    try:
        yield state
    finally:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True, timeout=30)
        # runc also joins the hybrid cgroup2 mount ("unified"), which hako's v1 driver skips.
        hroots = set(discover_hierarchies("/sys/fs/cgroup").values()) | {"/sys/fs/cgroup/unified"}
        for hroot in hroots:
            for d in (hroot + parent + "/c", hroot + parent):
                if os.path.isdir(d):
                    base.rmdir_with_retry(d, 10)


def _run(bundle, container, script, **kw):
    opts = sg.SpecOptions(rootfs=str(bundle / "rootfs"), args=("sh", "-c", script),
                          env=("PATH=/bin",), cgroups_path=container["parent"] + "/c",
                          netns_path=None, **kw)
    (bundle / "config.json").write_text(json.dumps(sg.build_spec(opts)))
    out = subprocess.run(["runc", "run", "--bundle", str(bundle), container["id"]],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return out


def test_runc_runs_default_spec(bundle, container):
    script = ("grep CapEff /proc/self/status; cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
              " cat /sys/fs/cgroup/pids/pids.max; hostname; cat /proc/kcore | wc -c;"
              " touch /sys/x 2>&1 || echo sys-ro; df /dev/shm | tail -1")
    out = _run(bundle, container, script, memory=64 << 20, pids_limit=50, hostname="boxy")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[1] == "00000000a80425fb"  # Docker's default capability mask
    assert lines[1] == str(64 << 20)
    assert lines[2] == "50"
    assert lines[3] == "boxy"
    assert lines[4] == "0"  # masked
    assert "sys-ro" in out.stdout
    assert "65536" in lines[-1]


@pytest.mark.skipif(not os.path.exists(TINI), reason="requires tini (static)")
def test_runc_runs_with_init_and_tmpfs(bundle, container):
    out = _run(bundle, container, "cat /proc/1/cmdline | tr '\\0' ' '; grep ' /run ' /proc/mounts",
               init_path=TINI, tmpfs={"/run": "size=1m"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("/sbin/docker-init -- sh -c")
    assert "tmpfs /run tmpfs rw,nosuid,nodev,noexec" in out.stdout


def test_runc_accepts_default_seccomp_profile(bundle, container):
    from hako.runtime import seccomp
    from hako.runtime.capabilities import DEFAULT_CAPABILITIES

    profile = seccomp.default_profile(DEFAULT_CAPABILITIES)
    out = _run(bundle, container, "grep Seccomp: /proc/self/status; unshare -u true || echo denied",
               seccomp_profile=profile)
    assert out.returncode == 0, out.stderr
    assert "Seccomp:\t2" in out.stdout
    assert "denied" in out.stdout
