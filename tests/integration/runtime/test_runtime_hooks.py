"""OCI hooks on hako-runtime and runc (the oracle): every stage fires in order with the
state on stdin; a failing prestart hook fails create and leaves nothing behind; a missing
hook binary and a hook that runs past its timeout fail with a one-line error."""

from __future__ import annotations

import json
import os
import stat

import pytest

pytestmark = pytest.mark.integration

HOST_STAGES = ("prestart", "createRuntime", "createContainer", "poststart", "poststop")


def _script(path: str, body: str) -> str:
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def _hooks(rt, logdir: str) -> dict:
    hooks = {}
    for stage in HOST_STAGES:
        script = _script(os.path.join(logdir, f"{stage}.sh"),
                         f'cat > {logdir}/{stage}.json; echo {stage} "$@" >> {logdir}/order\n')
        hooks[stage] = [{"path": script, "args": [script, "arg-" + stage]}]
    # startContainer runs inside the container: its path is the container's
    _script(os.path.join(rt.rootfs, "start-hook.sh"),
            "cat > /startContainer.json; echo startContainer >> /order\n")
    hooks["startContainer"] = [{"path": "/start-hook.sh"}]
    return hooks


def test_hooks_fire_in_order_with_state(rt, tmp_path):
    logdir = str(tmp_path)
    rt.spec["hooks"] = _hooks(rt, logdir)
    rt.spec["root"]["readonly"] = False  # the startContainer hook writes into the rootfs
    cid = rt.create_started("sleep", "100")
    st = rt.wait_status(cid, "running")
    assert st["status"] == "running"
    assert rt.cmd("kill", cid, "KILL").returncode == 0
    rt.wait_status(cid, "stopped")
    assert rt.cmd("delete", cid).returncode == 0
    with open(os.path.join(logdir, "order")) as f:
        order = f.read().split("\n")
    assert [line.split()[0] for line in order if line] == list(HOST_STAGES)
    assert order[0] == "prestart arg-prestart"
    with open(os.path.join(rt.rootfs, "order")) as f:
        assert f.read().split() == ["startContainer"]
    states = {}
    for stage in HOST_STAGES:
        with open(os.path.join(logdir, f"{stage}.json")) as f:
            states[stage] = json.load(f)
    with open(os.path.join(rt.rootfs, "startContainer.json")) as f:
        states["startContainer"] = json.load(f)
    for stage, doc in states.items():
        assert doc["id"] == cid, stage
        assert doc["bundle"] == rt.bundle, stage
        # hooks run by the init see its own pid (1 in its pid namespace), as runc's do
        inside = stage in ("createContainer", "startContainer")
        want = 1 if inside else 0 if stage == "poststop" else st["pid"]  # stopped: no pid
        assert doc.get("pid", 0) == want, (stage, doc)
    # runc reports poststart with whatever its status probe sees at that instant: "created"
    # until the init has exec'd the process, then "running"
    statuses = {s: d["status"] for s, d in states.items()}
    assert statuses.pop("poststart") in ("created", "running")
    assert statuses == {
        "prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
        "startContainer": "created", "poststop": "stopped"}


def test_failing_prestart_fails_create_and_leaves_nothing(rt, tmp_path):
    bad = _script(str(tmp_path / "fail.sh"), "echo refusing >&2; exit 3\n")
    rt.spec["hooks"] = {"prestart": [{"path": bad}]}
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert "prestart" in out.stderr or "hook" in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1
    assert rt.leftover_cgroups() == []


def test_missing_hook_binary_is_a_one_line_error(rt, tmp_path):
    rt.spec["hooks"] = {"createRuntime": [{"path": str(tmp_path / "no-such-hook")}]}
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "no-such-hook" in out.stderr and "no such file" in out.stderr.lower(), out.stderr
    assert rt.cmd("state", cid).returncode == 1
    assert rt.leftover_cgroups() == []


def test_hook_timeout(rt, tmp_path):
    slow = _script(str(tmp_path / "slow.sh"), "exec sleep 30\n")
    rt.spec["hooks"] = {"prestart": [{"path": slow, "timeout": 1}]}
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert "timeout" in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1


def test_failing_poststart_is_only_a_warning(rt, tmp_path):
    bad = _script(str(tmp_path / "fail.sh"), "exit 1\n")
    rt.spec["hooks"] = {"poststop": [{"path": bad}]}
    out = rt.run("true")
    assert out.returncode == 0, out.stderr
    assert stat.S_ISREG(os.stat(bad).st_mode)


def test_start_container_hook_under_a_filter_without_pidfd_open(rt):
    """startContainer hooks run under the container's seccomp filter (loaded before them,
    as runc does); a profile that refuses pidfd_open (older ones lack it) still runs them."""
    _script(os.path.join(rt.rootfs, "start-hook.sh"), "echo fired > /fired\n")
    rt.spec["hooks"] = {"startContainer": [{"path": "/start-hook.sh"}]}
    rt.spec["root"]["readonly"] = False
    rt.spec["process"]["noNewPrivileges"] = True
    rt.spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["pidfd_open"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    out = rt.run("cat", "/fired")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "fired\n"
