"""Fixtures for shim integration tests: busybox bundles and a cleanup registry.

Every test gets a fresh bundle (rootfs with a static busybox and its applet symlinks, a
config.json from ``runc spec`` with a unique cgroupsPath), a runtime root and a state dir;
teardown kills any shim still running (by pid), force-deletes the container and removes
the directories.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

BUSYBOX = "/bin/busybox"
RUNC = shutil.which("runc") or "/usr/sbin/runc"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HAKO_RUNTIME = os.path.join(REPO, ".venv", "bin", "hako-runtime")


def _requires_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("requires root")
    if not os.path.exists(BUSYBOX):
        pytest.skip("requires a static /bin/busybox")


def make_rootfs(root: str) -> None:
    """A busybox rootfs: bin/busybox plus one relative symlink per applet."""
    os.makedirs(os.path.join(root, "bin"))
    for d in ("proc", "sys", "dev", "tmp", "etc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    for name in applets.stdout.split():
        if name != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", name))


_SPEC_CACHE: dict = {}


def base_spec() -> dict:
    """``runc spec`` output (cached per session)."""
    if "spec" not in _SPEC_CACHE:
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([RUNC, "spec"], cwd=d, check=True)
            with open(os.path.join(d, "config.json")) as f:
                _SPEC_CACHE["spec"] = json.load(f)
    return json.loads(json.dumps(_SPEC_CACHE["spec"]))


class Env:
    """One test's bundle, runtime root, state dir and the shims it spawned."""

    def __init__(self, tmp: str, runtime: str) -> None:
        self.tmp = tmp
        self.runtime = runtime
        self.id = f"hako-shim-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.bundle = os.path.join(tmp, "bundle")
        self.runtime_root = os.path.join(tmp, "runtime-root")
        self.state_dir = os.path.join(tmp, "state")
        self.log_file = os.path.join(tmp, "ctr-json.log")
        self.shim_pids: list[int] = []
        os.makedirs(self.runtime_root)
        make_rootfs(os.path.join(self.bundle, "rootfs"))

    def write_spec(self, args: list[str], *, tty: bool = False, **process) -> dict:
        spec = base_spec()
        spec["process"]["args"] = args
        spec["process"]["terminal"] = tty
        spec["process"].update(process)
        spec["root"] = {"path": "rootfs", "readonly": False}
        spec["linux"]["cgroupsPath"] = f"/hako-shim-test/{self.id}"
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(spec, f)
        return spec

    def spawn(self, args: list[str], *, tty: bool = False, stdin: bool = False,
              stdin_once: bool = False, **process):
        from hako.runtime import shimclient

        self.write_spec(args, tty=tty, **process)
        handle = shimclient.spawn(
            id=self.id, bundle=self.bundle, state_dir=self.state_dir, runtime=self.runtime,
            runtime_root=self.runtime_root, log_file=self.log_file, tty=tty, stdin=stdin,
            stdin_once=stdin_once)
        self.shim_pids.append(handle.shim_pid)
        return handle

    def cleanup(self) -> None:
        for pid in self.shim_pids:
            _kill_if_shim(pid)
        subprocess.run([self.runtime, "--root", self.runtime_root, "delete", "--force", self.id],
                       capture_output=True, check=False)
        for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            _rmdir_cgroups(base)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _kill_if_shim(pid: int) -> None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"hako.runtime.shim" not in f.read():
                return
        os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError):
        return
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)


def _rmdir_cgroups(base: str) -> None:
    """Remove our (empty) parent cgroup dirs, if the runtime left them."""
    for ctl in os.listdir(base) if os.path.isdir(base) else []:
        path = os.path.join(base, ctl, "hako-shim-test")
        if os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError:
                pass


@pytest.fixture(params=["runc", "hako-runtime"])
def runtime(request) -> str:
    """The runtime binary under test: runc (the oracle) and ours, on the same scenarios."""
    _requires_root()
    return RUNC if request.param == "runc" else HAKO_RUNTIME


@pytest.fixture
def env(runtime):
    tmp = tempfile.mkdtemp(prefix="hako-shim-")
    e = Env(tmp, runtime)
    try:
        yield e
    finally:
        e.cleanup()
