"""hakod killed with SIGKILL and started again on the same data root.

Shims outlive the daemon: running containers keep running and are re-adopted (stop, exec,
logs, wait work on them); a container that exited while the daemon was down is reported with
its real exit code; created and exited containers come back unchanged. A daemon killed in the
middle of a create or an image import restarts onto a consistent store.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import threading

import pytest

from tests.daemon_harness import docker, import_busybox, poll

pytestmark = pytest.mark.integration


def run_d(d, cli, name, *cmd) -> str:
    return docker(d, cli, "run", "-d", "--name", name, "busybox", *cmd, check=True).stdout.decode().strip()


def state(d, ref) -> dict:
    status, info = d.api("GET", f"/containers/{ref}/json")
    assert status == 200, info
    return info["State"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("runtime", ["hako", "runc"])
def test_restart_after_sigkill_keeps_containers(fresh_hakod, docker_cli, runtime):
    if runtime != "hako" and not shutil.which(runtime):
        pytest.skip(f"{runtime} is not installed")
    d = fresh_hakod(runtime).start()
    import_busybox(d)
    cli = docker_cli
    loop = ["sh", "-c", "echo before; trap 'exit 42' TERM; trap 'echo while-down' USR1; "
            "while true; do sleep 0.05; done"]
    running = run_d(d, cli, "keeps-running", *loop)
    dies = run_d(d, cli, "dies-while-down", *loop)
    tty = docker(d, cli, "run", "-d", "-t", "--name", "tty-one", "busybox", "sh", check=True).stdout.decode().strip()
    exited = run_d(d, cli, "exited-before", "sh", "-c", "exit 3")
    paused = run_d(d, cli, "paused-one", "sleep", "1000")
    docker(d, cli, "pause", paused, check=True)
    created = docker(d, cli, "create", "--name", "never-started", "busybox", "true",
                     check=True).stdout.decode().strip()
    assert docker(d, cli, "wait", exited, check=True).stdout.decode().strip() == "3"
    poll(lambda: b"before" in docker(d, cli, "logs", running).stdout)
    pids = {name: state(d, name)["Pid"] for name in ("keeps-running", "dies-while-down", "tty-one")}
    listing_before = docker(d, cli, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Image}} {{.Command}}",
                            check=True).stdout.decode()

    d.kill9()
    os.kill(pids["dies-while-down"], signal.SIGTERM)  # exits 42 while nobody watches
    os.kill(pids["keeps-running"], signal.SIGUSR1)  # logs a line while nobody watches
    poll(lambda: not pid_alive(pids["dies-while-down"]))
    assert pid_alive(pids["keeps-running"]) and pid_alive(pids["tty-one"])
    d.start()

    listing_after = docker(d, cli, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Image}} {{.Command}}",
                           check=True).stdout.decode()
    assert sorted(listing_after.splitlines()) == sorted(listing_before.splitlines())
    assert {(s := state(d, name))["Status"] for name in ("keeps-running", "tty-one")} == {"running"}
    assert state(d, "keeps-running")["Pid"] == pids["keeps-running"]
    gone = state(d, "dies-while-down")
    assert (gone["Status"], gone["ExitCode"], gone["Running"], gone["Pid"]) == ("exited", 42, False, 0)
    assert (state(d, exited)["Status"], state(d, exited)["ExitCode"]) == ("exited", 3)
    assert state(d, created)["Status"] == "created"
    assert state(d, paused)["Status"] == "paused"
    docker(d, cli, "unpause", paused, check=True)
    assert state(d, paused)["Status"] == "running"

    # the re-adopted containers answer every verb
    assert docker(d, cli, "exec", "keeps-running", "echo", "exec-after", check=True).stdout == b"exec-after\n"
    assert docker(d, cli, "exec", "tty-one", "true").returncode == 0
    assert b"before" in docker(d, cli, "logs", "keeps-running", check=True).stdout
    poll(lambda: b"while-down" in docker(d, cli, "logs", "keeps-running").stdout)  # the shim kept logging
    waiter = subprocess.Popen([cli, "wait", "keeps-running"], stdout=subprocess.PIPE, env=d.env)
    try:
        # no race: a wait that arrives after the exit answers the recorded exit code
        docker(d, cli, "kill", "-s", "TERM", "keeps-running", check=True)
        assert waiter.communicate(timeout=20)[0].decode().strip() == "42"
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    docker(d, cli, "stop", "-t", "1", "tty-one", check=True)
    assert state(d, "tty-one")["Status"] == "exited"
    # exited and created containers start again
    docker(d, cli, "start", "dies-while-down", check=True)
    assert state(d, "dies-while-down")["Running"] is True
    docker(d, cli, "start", created, check=True)
    assert docker(d, cli, "wait", created, check=True).stdout.decode().strip() == "0"
    for name in (running, dies, tty, exited, created, paused):
        assert docker(d, cli, "rm", "-f", name).returncode == 0
    assert docker(d, cli, "ps", "-aq", check=True).stdout == b""


def _in_threads(fns) -> list[threading.Thread]:
    threads = [threading.Thread(target=fn, daemon=True) for fn in fns]
    for t in threads:
        t.start()
    return threads


def _container_dirs(d) -> set[str]:
    base = os.path.join(d.data_root, "containers")
    return set(os.listdir(base)) if os.path.isdir(base) else set()


def _rootfs_ids_offline(d) -> set[str]:
    """Stop the daemon and list the container snapshots its store holds."""
    from hako.image.rootfs import key_for
    from hako.image.service import ImageService

    d.stop()
    svc = ImageService(d.data_root, recover=False)
    try:
        prefix = key_for("")
        return {i.name[len(prefix):] for i in svc.sn.walk() if i.name.startswith(prefix)}
    finally:
        svc.close()


def _check_consistent_containers(d, cli) -> list[str]:
    """Every listed container inspects, has its record dir, and starts; nothing else is left."""
    status, items = d.api("GET", "/containers/json", query={"all": "1"})
    assert status == 200, items
    ids = [c["Id"] for c in items]
    assert _container_dirs(d) == set(ids), "container directories without a record survived"
    for cid in ids:
        assert state(d, cid)["Status"] == "created"
        docker(d, cli, "start", cid, check=True)
        assert docker(d, cli, "wait", cid, check=True).stdout.decode().strip() == "0"
    return ids


def test_sigkill_during_creates(fresh_hakod, docker_cli):
    d = fresh_hakod().start()
    import_busybox(d)
    results: list = []

    def create(i: int):
        def go():
            try:
                results.append(d.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]},
                                     query={"name": f"crash-{i}"}, timeout=20))
            except (OSError, http.client.HTTPException) as exc:  # the daemon died mid-reply
                results.append(exc)
        return go

    threads = _in_threads([create(i) for i in range(8)])
    poll(lambda: any(isinstance(r, tuple) and r[0] == 201 for r in results))
    d.kill9()
    for t in threads:
        t.join(20)
    d.start()
    ids = _check_consistent_containers(d, docker_cli)
    assert len(ids) >= 1
    # every name of a create that did not survive is free again
    for i in range(8):
        docker(d, docker_cli, "rm", "-f", f"crash-{i}")
        docker(d, docker_cli, "create", "--name", f"crash-{i}", "busybox", "true", check=True)
    dirs = _container_dirs(d)
    assert len(dirs) == 8
    assert _rootfs_ids_offline(d) == dirs, "a snapshot of a half-created container survived"


def _images(d) -> dict[str, list[str]]:
    status, items = d.api("GET", "/images/json", query={"all": "1"})
    assert status == 200, items
    return {i["Id"]: sorted(i["RepoTags"]) for i in items}


def test_sigkill_during_imports(fresh_hakod, docker_cli):
    from tests.data.rootfs import make_busybox_rootfs_tar

    d = fresh_hakod().start()
    import_busybox(d)
    before = _images(d)
    tar = os.path.join(d.root, "rootfs.tar")
    make_busybox_rootfs_tar(tar)
    data = open(tar, "rb").read()
    results: list = []

    def importer(i: int):
        def go():
            try:
                results.append(d.api("POST", "/images/create", raw=data, timeout=30, query={
                    "fromSrc": "-", "repo": "crashimg", "tag": f"t{i}", "changes": f'CMD ["echo","img{i}"]'}))
            except (OSError, http.client.HTTPException) as exc:  # the daemon died mid-reply
                results.append(exc)
        return go

    threads = _in_threads([importer(i) for i in range(6)])
    poll(lambda: any(isinstance(r, tuple) and r[0] == 200 for r in results), timeout=30)
    d.kill9()
    for t in threads:
        t.join(30)
    d.start()
    after = _images(d)
    new = {k: v for k, v in after.items() if k not in before}
    assert all(tags and all(t.startswith("crashimg:t") for t in tags) for tags in new.values()), \
        f"half-imported image left untagged: {new}"
    assert len(new) >= 1
    for tags in new.values():
        tag = tags[0]
        n = tag.split(":t")[1]
        res = docker(d, docker_cli, "run", "--rm", tag)
        assert res.returncode == 0 and res.stdout == f"img{n}\n".encode(), res.stderr
    assert docker(d, docker_cli, "images", "-q", "-f", "dangling=true", check=True).stdout == b""
    # leftovers of the interrupted imports were swept at start
    tmp = os.path.join(d.data_root, "tmp")
    assert not os.path.isdir(tmp) or not os.listdir(tmp)
    # importing again still works for every tag
    for i in range(6):
        status, body = d.api("POST", "/images/create", raw=data, timeout=30, query={
            "fromSrc": "-", "repo": "crashimg", "tag": f"t{i}", "changes": f'CMD ["echo","img{i}"]'})
        assert status == 200, body
    assert len([t for tags in _images(d).values() for t in tags if t.startswith("crashimg:")]) == 6


def test_autoremove_container_that_exited_while_down_is_removed(fresh_hakod, docker_cli):
    d = fresh_hakod().start()
    import_busybox(d)
    cid = docker(d, docker_cli, "run", "-d", "--rm", "busybox", "sh", "-c", "trap 'exit 0' TERM; "
                 "while true; do sleep 0.05; done", check=True).stdout.decode().strip()
    pid = state(d, cid)["Pid"]
    d.kill9()
    os.kill(pid, signal.SIGTERM)
    poll(lambda: not pid_alive(pid))
    d.start()
    assert docker(d, docker_cli, "inspect", cid).returncode == 1
    assert cid not in _container_dirs(d)


def test_sigkill_during_starts(fresh_hakod, docker_cli):
    d = fresh_hakod().start()
    import_busybox(d)
    ids = [docker(d, docker_cli, "create", "busybox", "sleep", "1000", check=True).stdout.decode().strip()
           for _ in range(6)]
    results: list = []

    def start(cid: str):
        def go():
            try:
                results.append(d.api("POST", f"/containers/{cid}/start", timeout=20))
            except (OSError, http.client.HTTPException) as exc:  # the daemon died mid-reply
                results.append(exc)
        return go

    threads = _in_threads([start(cid) for cid in ids])
    poll(lambda: any(isinstance(r, tuple) and r[0] == 204 for r in results))
    d.kill9()
    for t in threads:
        t.join(20)
    d.start()
    for cid in ids:
        st = state(d, cid)
        assert st["Status"] in ("created", "running", "exited"), st
        if st["Status"] == "running":
            assert pid_alive(st["Pid"])
            assert docker(d, docker_cli, "exec", cid, "true").returncode == 0
        else:  # no process of it was left behind, and it starts cleanly now
            docker(d, docker_cli, "start", cid, check=True)
        docker(d, docker_cli, "stop", "-t", "0", cid, check=True)
        assert state(d, cid)["Status"] == "exited"
    for cid in ids:
        docker(d, docker_cli, "rm", cid, check=True)
    assert not os.listdir(os.path.join(d.exec_root, "containers"))


def test_restart_policy_applies_to_container_that_died_while_down(fresh_hakod, docker_cli):
    d = fresh_hakod().start()
    import_busybox(d)
    cid = docker(d, docker_cli, "run", "-d", "--restart", "always", "busybox", "sh", "-c",
                 "trap 'exit 0' TERM; while true; do sleep 0.05; done", check=True).stdout.decode().strip()
    pid = state(d, cid)["Pid"]
    d.kill9()
    os.kill(pid, signal.SIGTERM)
    poll(lambda: not pid_alive(pid))
    d.start()
    new = poll(lambda: (st := state(d, cid))["Status"] == "running" and st["Pid"] != pid and st)
    assert pid_alive(new["Pid"])
    assert docker(d, docker_cli, "inspect", "-f", "{{.RestartCount}}", cid).stdout.decode().strip() == "1"
    docker(d, docker_cli, "rm", "-f", cid, check=True)


def test_runtime_leftover_of_a_killed_start_is_deleted(fresh_hakod, docker_cli, tmp_path):
    """hakod killed between the runtime's create and the shim's record (conmon writes its
    state file after the create): the runtime still holds the container and no shim does.
    The next start deletes that leftover instead of failing with "container with id exists"."""
    import json
    import sys

    from tests.integration.runtime.conftest import base_spec, make_rootfs

    d = fresh_hakod().start()
    import_busybox(d)
    cid = docker(d, docker_cli, "create", "busybox", "echo", "fresh", check=True).stdout.decode().strip()
    d.kill9()
    bundle = str(tmp_path / "leftover")
    make_rootfs(os.path.join(bundle, "rootfs"))
    spec = base_spec(bundle)
    spec["process"]["args"] = ["sleep", "1000"]
    spec["linux"]["cgroupsPath"] = d.cgroup_parent + "/leftover"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    runtime = [os.path.join(os.path.dirname(sys.executable), "hako-runtime"),
               "--root", os.path.join(d.exec_root, "runtime")]
    subprocess.run([*runtime, "create", "--bundle", bundle, cid], check=True,  # the init holds its stdio
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        d.start()
        res = docker(d, docker_cli, "start", "-a", cid, check=True)
        assert res.stdout.decode().strip() == "fresh"
    finally:
        subprocess.run([*runtime, "delete", "--force", cid], capture_output=True)
