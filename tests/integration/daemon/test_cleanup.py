"""What a container leaves on the host after ``docker rm -f``: nothing.

For both runtimes (hako-runtime and runc) containers are created, started, exec'd into,
paused, stopped, fail to start and auto-remove; after removal no mount under the exec root,
no cgroup directory of theirs in any controller, no runtime or bundle state dir and no
shim or container process may remain.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.daemon_harness import import_busybox, new_daemon, shim_pid

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["hako", "runc"])
def daemon(request):
    if request.param == "runc" and not shutil.which("runc"):
        pytest.skip("runc is not installed")
    d = new_daemon(request.param)
    try:
        d.start()
        import_busybox(d)
        yield d
    finally:
        d.cleanup()


def _poll(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def _run(d, *cmd: str, **extra) -> str:
    status, body = d.api("POST", "/containers/create", {"Image": "busybox", "Cmd": list(cmd), **extra})
    assert status == 201, body
    status, err = d.api("POST", f"/containers/{body['Id']}/start")
    assert status == 204, err
    return body["Id"]


def _pids(d, cid: str) -> list[int]:
    """The container's init and its shim (from the shim's state) while it runs."""
    status, info = d.api("GET", f"/containers/{cid}/json")
    assert status == 200 and info["State"]["Running"], info
    return [info["State"]["Pid"], shim_pid(d.exec_root, cid)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _exec(d, cid: str, *cmd: str, wait: bool = True) -> None:
    status, body = d.api("POST", f"/containers/{cid}/exec", {"Cmd": list(cmd)})
    assert status == 201, body
    eid = body["Id"]
    status, err = d.api("POST", f"/exec/{eid}/start", {"Detach": True})
    assert status == 200, err
    if wait:
        done = _poll(lambda: not d.api("GET", f"/exec/{eid}/json")[1]["Running"])
        assert done, "exec did not finish"
        assert d.api("GET", f"/exec/{eid}/json")[1]["ExitCode"] == 0


def _leftovers(d, cid: str, pids: list[int]) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4]
            if cid in target or target.startswith(os.path.realpath(d.exec_root) + "/"):
                found.append(f"mount {target}")
    for controller in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", controller, d.cgroup_parent.strip("/"))
        for dirpath, dirs, _ in os.walk(top):
            found += [f"cgroup {os.path.join(dirpath, x)}" for x in dirs if cid in x]
    for sub in ("containers", "runtime"):
        if os.path.exists(os.path.join(d.exec_root, sub, cid)):
            found.append(f"state dir {sub}/{cid}")
    if os.path.exists(os.path.join(d.data_root, "containers", cid)):
        found.append(f"record dir containers/{cid}")
    found += [f"process {pid}" for pid in pids if _alive(pid)]
    return found


def _assert_clean(d, cid: str, pids: list[int]) -> None:
    status, _ = d.api("GET", f"/containers/{cid}/json")
    assert status == 404
    left = _poll(lambda: not _leftovers(d, cid, pids)) or _leftovers(d, cid, pids)
    assert left is True, f"left on the host after rm: {left}\n{d.read_log()}"


def test_stop_then_rm(daemon):
    cid = _run(daemon, "sleep", "1000")
    pids = _pids(daemon, cid)
    _exec(daemon, cid, "sh", "-c", "echo x > /tmp/x")
    # the detector sees every kind of leftover while the container runs
    kinds = {item.split()[0] for item in _leftovers(daemon, cid, pids)}
    assert kinds >= {"mount", "cgroup", "state", "record", "process"}, kinds
    assert daemon.api("POST", f"/containers/{cid}/stop", query={"t": "1"})[0] == 204
    assert daemon.api("DELETE", f"/containers/{cid}")[0] == 204
    _assert_clean(daemon, cid, pids)


def test_rm_force_with_running_exec(daemon):
    cid = _run(daemon, "sleep", "1000")
    pids = _pids(daemon, cid)
    _exec(daemon, cid, "sleep", "1000", wait=False)
    assert daemon.api("DELETE", f"/containers/{cid}", query={"force": "1"})[0] == 204
    _assert_clean(daemon, cid, pids)


def test_rm_force_paused(daemon):
    cid = _run(daemon, "sleep", "1000")
    pids = _pids(daemon, cid)
    assert daemon.api("POST", f"/containers/{cid}/pause")[0] == 204
    assert daemon.api("DELETE", f"/containers/{cid}", query={"force": "1"})[0] == 204
    _assert_clean(daemon, cid, pids)


def test_failed_start_then_rm(daemon):
    status, body = daemon.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["/nonexistent"]})
    assert status == 201, body
    cid = body["Id"]
    status, err = daemon.api("POST", f"/containers/{cid}/start")
    assert status == 400, err
    assert daemon.api("DELETE", f"/containers/{cid}", query={"force": "1"})[0] == 204
    _assert_clean(daemon, cid, [])


def test_auto_remove(daemon):
    cid = _run(daemon, "sleep", "1000", HostConfig={"AutoRemove": True})
    pids = _pids(daemon, cid)
    assert daemon.api("POST", f"/containers/{cid}/kill")[0] == 204
    assert _poll(lambda: daemon.api("GET", f"/containers/{cid}/json")[0] == 404), "not auto-removed"
    _assert_clean(daemon, cid, pids)
