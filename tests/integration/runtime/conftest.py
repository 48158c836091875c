"""Fixtures for black-box runtime tests: a busybox bundle and a runtime driver per runtime.

Every scenario runs against ``hako-runtime`` and against ``runc`` (the oracle). Each test
gets its own state root, a unique container id and a unique cgroupsPath; teardown
force-deletes every container it made and fails if a cgroup directory is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"
_counter = iter(range(1_000_000))

RUNTIMES = {
    "hako": [sys.executable, "-m", "hako.runtime.cli"],
    "runc": ["runc"],
}


def _requirements(name: str) -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not os.path.exists(BUSYBOX):
        return "needs /bin/busybox (busybox-static)"
    if name == "runc" and shutil.which("runc") is None:
        return "runc not installed"
    return None


def make_rootfs(path: str) -> None:
    """A busybox rootfs: bin/busybox, one symlink per applet, /etc/passwd and group, /tmp."""
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for name in applets:
        if name != "busybox":
            os.symlink("busybox", os.path.join(path, "bin", name))
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


def base_spec(bundle: str) -> dict:
    """`runc spec` output, made non-interactive (terminal false)."""
    subprocess.run(["runc", "spec", "--bundle", bundle], check=True)
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    os.unlink(os.path.join(bundle, "config.json"))
    spec["process"]["terminal"] = False
    # runc's template lists ambient caps without inheritable ones; runc ignores the failed
    # PR_CAP_AMBIENT_RAISE, hako.runtime.capabilities fails closed. Make the spec valid.
    caps = spec["process"]["capabilities"]
    caps["inheritable"] = list(caps.get("ambient") or [])
    return spec


class Runtime:
    """Drives one runtime binary with a private --root."""

    def __init__(self, name: str, root: str, bundle: str, rootfs: str, spec: dict) -> None:
        self.name, self.root, self.bundle, self.rootfs = name, root, bundle, rootfs
        self.spec = spec
        self.prefix: list[str] = []  # e.g. ``unshare -m`` to keep runc's mounts off the host
        self.ids: list[str] = []
        self.cgroups: list[str] = []

    def new_id(self) -> str:
        cid = f"hako-rt-{os.getpid()}-{next(_counter)}"
        self.ids.append(cid)
        return cid

    def write_spec(self, **process) -> str:
        """Write config.json with process overrides and a fresh cgroupsPath; returns it."""
        spec = json.loads(json.dumps(self.spec))
        spec["process"].update(process)
        cg = f"/hako-test-{os.getpid()}-{next(_counter)}"
        spec["linux"]["cgroupsPath"] = cg
        self.cgroups.append(cg)
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(spec, f)
        return cg

    def cmd(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a runtime command. Output goes through files, not pipes: a created
        container's init inherits the command's stdio and would hold a pipe open."""
        argv = self.prefix + RUNTIMES[self.name] + ["--root", self.root, *args]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, proc.returncode,
                                               out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))

    def run(self, *args: str, **process) -> subprocess.CompletedProcess:
        """`run` a container whose process.args are ``args``."""
        self.write_spec(args=list(args), **process)
        return self.cmd("run", "--bundle", self.bundle, self.new_id())

    def create_started(self, *args: str, **process) -> str:
        """create + start a container; returns its id."""
        self.write_spec(args=list(args), **process)
        cid = self.new_id()
        out = self.cmd("create", "--bundle", self.bundle, cid)
        assert out.returncode == 0, out.stderr
        out = self.cmd("start", cid)
        assert out.returncode == 0, out.stderr
        return cid

    def state(self, cid: str) -> dict:
        out = self.cmd("state", cid)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def wait_status(self, cid: str, status: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == status or time.monotonic() > deadline:
                return st
            time.sleep(0.02)  # polling against a deadline

    def leftover_cgroups(self) -> list[str]:
        found = []
        for cg in self.cgroups:
            for ctl in os.listdir(CGROUP_ROOT):
                path = os.path.join(CGROUP_ROOT, ctl) + cg
                if os.path.isdir(path):
                    found.append(path)
        return found

    def cleanup(self) -> list[str]:
        for cid in self.ids:
            self.cmd("delete", "--force", cid)
        left = self.leftover_cgroups()
        for path in left:
            try:
                os.rmdir(path)
            except OSError:
                pass
        return left


@pytest.fixture(params=sorted(RUNTIMES))
def rt(request):
    """A Runtime for each of hako-runtime and runc, with its own bundle and state root."""
    reason = _requirements(request.param)
    if reason:
        pytest.skip(reason)
    tmp = tempfile.mkdtemp(prefix="hako-rt-test-")
    runtime = None
    try:
        bundle = os.path.join(tmp, "bundle")
        rootfs = os.path.join(bundle, "rootfs")
        make_rootfs(rootfs)
        runtime = Runtime(request.param, os.path.join(tmp, "state"), bundle, rootfs,
                          base_spec(bundle))
        yield runtime
    finally:
        left = runtime.cleanup() if runtime else []
        shutil.rmtree(tmp, ignore_errors=True)
    assert not left, f"cgroup dirs left behind: {left}"
