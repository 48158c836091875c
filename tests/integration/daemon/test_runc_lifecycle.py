"""The docker CLI container-lifecycle scenarios of tests/cli, against a hakod whose default
runtime is runc: the daemon's bundles, shim and state handling work with either runtime."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.cli.test_docker_containers import *  # noqa: F401,F403 - the scenarios, re-collected here
from tests.cli.test_docker_tty import name, test_run_it_interactive_shell_and_exit_code, \
    test_detach_and_attach, test_exec_it  # noqa: F401 - pty scenarios with runc's console socket
from tests.daemon_harness import import_busybox, new_daemon

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hakod():
    """Overrides the session daemon for this module: default runtime runc."""
    if not shutil.which("runc"):
        pytest.skip("runc is not installed")
    d = new_daemon("runc")
    try:
        d.start()
        import_busybox(d)
        yield d
    finally:
        d.cleanup()


def test_default_runtime_is_runc(hakod, docker_cli):
    res = docker(hakod, docker_cli, "run", "-d", "busybox", "sleep", "100", check=True)  # noqa: F405
    cid = res.stdout.decode().strip()
    try:
        runtime = docker(hakod, docker_cli, "inspect", "-f", "{{.HostConfig.Runtime}}", cid)  # noqa: F405
        assert runtime.stdout.decode().strip() == "runc"
        status, info = hakod.api("GET", "/info")
        assert info["DefaultRuntime"] == "runc"
        assert "runc" in info["Runtimes"]
        # runc itself runs the container (its state root is the daemon's runtime root)
        res = subprocess.run(["runc", "--root", os.path.join(hakod.exec_root, "runtime"), "state", cid],
                             capture_output=True, check=True)
        assert json.loads(res.stdout)["status"] == "running"
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)  # noqa: F405
