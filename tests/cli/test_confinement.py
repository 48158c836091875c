"""Black-box: containers get Docker's confinement by default, read from inside the container.

Seccomp (the default filter, ``seccomp=unconfined``, ``--privileged``, a custom profile file,
invalid options), no_new_privs, capabilities, masked and read-only paths, through the real
docker CLI, the ``hako`` CLI and docker-py (the API), against the session's private hakod.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration

# Docker's default capability set as /proc/self/status CapEff shows it
DEFAULT_CAPEFF = "00000000a80425fb"
DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


def _run(hakod, docker_cli, *args, script):
    res = docker(hakod, docker_cli, "run", "--rm", *args, "busybox", "sh", "-c", script)
    return res.returncode, out(res), res.stderr.decode()


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


@pytest.fixture
def deny_mkdir_file(tmp_path):
    path = tmp_path / "deny-mkdir.json"
    path.write_text(json.dumps(DENY_MKDIR, indent=2) + "\n")
    return str(path)


def test_default_container_is_confined(hakod, docker_cli):
    code, stdout, err = _run(hakod, docker_cli, script=(
        "cat /proc/self/status; "
        "if unshare -U -r id; then echo UNSHARE=ok; else echo UNSHARE=refused; fi"))
    assert code == 0, err
    st = _status(stdout)
    assert st["Seccomp"].strip() == "2"
    assert st["NoNewPrivs"].strip() == "0"
    assert st["CapEff"].strip() == DEFAULT_CAPEFF
    assert st["CapBnd"].strip() == DEFAULT_CAPEFF
    assert "UNSHARE=refused" in stdout and "Operation not permitted" in err


def test_default_filter_refuses_mount_and_keeps_programs_running(hakod, docker_cli):
    code, stdout, err = _run(hakod, docker_cli, script=(
        "mkdir /m; mount -t tmpfs none /m && echo MOUNT=ok || echo MOUNT=refused; "
        "sh -c 'echo child' ; chroot / true && echo CHROOT=ok"))
    assert code == 0, err
    assert stdout.split() == ["MOUNT=refused", "child", "CHROOT=ok"]


def test_unconfined_and_privileged_have_no_filter(hakod, docker_cli):
    code, stdout, err = _run(hakod, docker_cli, "--security-opt", "seccomp=unconfined",
                             script="grep Seccomp: /proc/self/status")
    assert code == 0, err
    assert stdout.split() == ["Seccomp:", "0"]
    code, stdout, err = _run(hakod, docker_cli, "--privileged",
                             script="grep Seccomp: /proc/self/status")
    assert code == 0, err
    assert stdout.split() == ["Seccomp:", "0"]
    code, stdout, err = _run(hakod, docker_cli, "--security-opt", "seccomp=builtin",
                             script="grep Seccomp: /proc/self/status")
    assert code == 0, err
    assert stdout.split() == ["Seccomp:", "2"]


def test_cap_sys_admin_opens_the_filter_like_docker(hakod, docker_cli):
    code, stdout, err = _run(hakod, docker_cli, "--cap-add", "SYS_ADMIN", script=(
        "grep Seccomp: /proc/self/status; mkdir /m; "
        "mount -t tmpfs none /m && echo MOUNT=ok"))
    assert code == 0, err
    assert stdout.split() == ["Seccomp:", "2", "MOUNT=ok"]


def test_custom_profile_file_through_the_docker_cli(hakod, docker_cli, deny_mkdir_file):
    code, stdout, err = _run(hakod, docker_cli, "--security-opt", f"seccomp={deny_mkdir_file}",
                             script="grep Seccomp: /proc/self/status; mkdir /x; "
                                    "touch /y && echo TOUCH=ok")
    assert code == 0, err
    assert stdout.split() == ["Seccomp:", "2", "TOUCH=ok"]
    assert "mkdir: can't create directory '/x': Operation not permitted" in err
    # what the CLI sent is what inspect shows: seccomp=<the compacted JSON>
    cid = out(docker(hakod, docker_cli, "create", "--security-opt",
                     f"seccomp={deny_mkdir_file}", "busybox", "true", check=True)).strip()
    try:
        info = json.loads(out(docker(hakod, docker_cli, "inspect", cid, check=True)))[0]
        assert info["HostConfig"]["SecurityOpt"] == [
            "seccomp=" + json.dumps(DENY_MKDIR, separators=(",", ":"))]
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_custom_profile_file_through_the_hako_cli(hakod, deny_mkdir_file):
    res = subprocess.run([sys.executable, "-m", "hako.cli", "run", "--rm", "--security-opt",
                          f"seccomp={deny_mkdir_file}", "busybox", "sh", "-c",
                          "mkdir /x || echo REFUSED"], capture_output=True, env=hakod.env,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"REFUSED\n"
    res = subprocess.run([sys.executable, "-m", "hako.cli", "run", "--rm", "--security-opt",
                          "seccomp=/nonexistent.json", "busybox", "true"],
                         capture_output=True, env=hakod.env, timeout=60)
    assert res.returncode == 125
    assert b"opening seccomp profile (/nonexistent.json) failed" in res.stderr


def test_no_new_privileges(hakod, docker_cli):
    for opt in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"):
        code, stdout, err = _run(hakod, docker_cli, "--security-opt", opt,
                                 script="grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status")
        assert code == 0, err
        assert stdout.split() == ["NoNewPrivs:", "1", "Seccomp:", "2"], opt
    code, stdout, err = _run(hakod, docker_cli, "--security-opt", "no-new-privileges=false",
                             script="grep NoNewPrivs: /proc/self/status")
    assert stdout.split() == ["NoNewPrivs:", "0"]


def test_invalid_security_opts_are_refused_with_dockers_text(hakod, docker_cli, tmp_path):
    res = docker(hakod, docker_cli, "run", "--rm", "--security-opt", "foo=bar", "busybox", "true")
    assert res.returncode == 125
    assert 'invalid --security-opt 2: "foo=bar"' in res.stderr.decode()
    res = docker(hakod, docker_cli, "run", "--rm", "--security-opt", "no-new-privileges=maybe",
                 "busybox", "true")
    assert 'invalid --security-opt 2: "no-new-privileges=maybe"' in res.stderr.decode()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = docker(hakod, docker_cli, "run", "--rm", "--security-opt", f"seccomp={bad}",
                 "busybox", "true")
    assert res.returncode == 125 and b"compacting json for seccomp profile" in res.stderr


@pytest.mark.parametrize("opts,status,message", [
    (["seccomp=default"], 400, "Decoding seccomp profile failed: invalid character 'd' "
                               "looking for beginning of value"),
    (["seccomp={\"defaultAction\": 3}"], 400, "Decoding seccomp profile failed: json: cannot "
     "unmarshal number into Go struct field Seccomp.defaultAction of type string"),
    (["unknown"], 400, 'invalid --security-opt 1: "unknown"'),
    (["unknown=x"], 400, 'invalid --security-opt 2: "unknown=x"'),
    (["seccomp={\"defaultAction\":\"SCMP_ACT_NOPE\"}"], 400, "unknown seccomp action"),
    (["apparmor=docker-default"], 400, "AppArmor profiles are not supported yet"),
])
def test_api_refuses_bad_security_opts(hakod, opts, status, message):
    code, body = hakod.api("POST", "/containers/create",
                           {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"SecurityOpt": opts}})
    assert code == status, body
    assert message in body["message"]


def test_filter_that_cannot_be_loaded_never_runs(hakod):
    # valid for the daemon, refused by libseccomp (no syscall has a 10th argument)
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}
    code, body = hakod.api("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["sh", "-c", "echo RAN > /ran"],
        "HostConfig": {"SecurityOpt": ["seccomp=" + json.dumps(profile)]}})
    assert code == 201, body
    cid = body["Id"]
    try:
        code, body = hakod.api("POST", f"/containers/{cid}/start")
        assert code >= 400 and "seccomp" in body["message"], body
        code, info = hakod.api("GET", f"/containers/{cid}/json")
        assert info["State"]["Running"] is False and info["State"]["Pid"] == 0
        code, changes = hakod.api("GET", f"/containers/{cid}/changes")
        assert not any(c["Path"] == "/ran" for c in changes or [])
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


def test_info_lists_seccomp(hakod, docker_cli):
    res = docker(hakod, docker_cli, "info", "--format", "{{json .SecurityOptions}}", check=True)
    assert json.loads(out(res)) == ["name=seccomp,profile=builtin"]


def test_dockerpy_security_opt(hakod):
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=hakod.host, version="1.41", timeout=60)
    try:
        got = client.containers.run("busybox", ["grep", "Seccomp:", "/proc/self/status"],
                                    remove=True)
        assert got.split() == [b"Seccomp:", b"2"]
        got = client.containers.run("busybox", ["grep", "Seccomp:", "/proc/self/status"],
                                    security_opt=["seccomp=unconfined"], remove=True)
        assert got.split() == [b"Seccomp:", b"0"]
        got = client.containers.run(
            "busybox", ["sh", "-c", "mkdir /x 2>&1; echo rc=$?"], remove=True,
            security_opt=["seccomp=" + json.dumps(DENY_MKDIR)])
        assert got == b"mkdir: can't create directory '/x': Operation not permitted\nrc=1\n"
        with pytest.raises(docker_py.errors.APIError) as err:
            client.containers.create("busybox", "true", security_opt=["nope=1"])
        assert err.value.status_code == 400
        assert 'invalid --security-opt 2: "nope=1"' in str(err.value.explanation)
    finally:
        client.close()


def test_masked_and_readonly_paths_as_docker(hakod, docker_cli):
    code, stdout, err = _run(hakod, docker_cli, script=(
        "echo h > /proc/sysrq-trigger && echo SYSRQ=written || echo SYSRQ=refused; "
        "touch /sys/x && echo SYS=written || echo SYS=refused; "
        "echo 1 > /proc/sys/kernel/domainname && echo PROCSYS=written || echo PROCSYS=refused; "
        "echo KCORE=$(cat /proc/kcore 2>/dev/null | wc -c); "
        "echo TIMER_LIST=$(wc -c < /proc/timer_list); echo KEYS=$(wc -c < /proc/keys); "
        "echo FIRMWARE=$(ls -A /sys/firmware | wc -l); "
        "grep -E ' /(proc/(kcore|keys|timer_list|sysrq-trigger|sys|bus|fs|irq)|sys) ' "
        "/proc/self/mountinfo | awk '{print $5, $6}'"))
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[:7] == ["SYSRQ=refused", "SYS=refused", "PROCSYS=refused", "KCORE=0",
                         "TIMER_LIST=0", "KEYS=0", "FIRMWARE=0"], (lines, err)
    assert "Read-only file system" in err
    mounts = dict(line.split(" ", 1) for line in lines[7:])
    for path in ("/sys", "/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs",
                 "/proc/irq"):
        if os.path.exists(path):  # kernels without CONFIG_MAGIC_SYSRQ have no sysrq-trigger
            assert mounts[path].split(",")[0] == "ro", (path, mounts)
    # masked files are /dev/null bind mounts (the mount's source shows in mountinfo); a
    # masked path the host's /proc lacks (kcore on kernels without CONFIG_PROC_KCORE) is
    # skipped, as runc does
    files = [p for p in ("kcore", "keys", "timer_list") if os.path.exists(f"/proc/{p}")]
    res = docker(hakod, docker_cli, "run", "--rm", "busybox", "sh", "-c",
                 "grep -E ' /proc/(kcore|keys|timer_list) ' /proc/self/mountinfo", check=True)
    assert len(out(res).splitlines()) == len(files) >= 2
    for line in out(res).splitlines():
        assert line.split()[3] == "/null", line


def test_exec_gets_the_containers_confinement(hakod, docker_cli):
    cid = out(docker(hakod, docker_cli, "run", "-d", "--security-opt", "no-new-privileges",
                     "busybox", "sleep", "60", check=True)).strip()
    try:
        res = docker(hakod, docker_cli, "exec", cid, "grep", "-E",
                     "^(NoNewPrivs|Seccomp|CapEff):", "/proc/self/status", check=True)
        assert out(res).split() == ["CapEff:", DEFAULT_CAPEFF, "NoNewPrivs:", "1",
                                    "Seccomp:", "2"]
    finally:
        docker(hakod, docker_cli, "rm", "-f", cid)


def test_seccomp_cache_is_private_to_root(hakod, docker_cli):
    docker(hakod, docker_cli, "run", "--rm", "busybox", "true", check=True)
    cache = os.path.join(hakod.exec_root, "runtime", "@seccomp")
    st = os.stat(cache)
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o700
    assert any(name.endswith(".bpf") for name in os.listdir(cache))
