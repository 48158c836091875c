"""Black-box scenarios run against hako-runtime and runc (the oracle) on a busybox bundle."""

from __future__ import annotations

import array
import os
import socket
import threading

import pytest

pytestmark = pytest.mark.integration


def test_echo_output(rt):
    out = rt.run("echo", "hello from the container")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello from the container\n"


def test_exit_code_propagates(rt):
    assert rt.run("sh", "-c", "exit 3").returncode == 3


def test_hostname_and_pid_1(rt):
    rt.spec["hostname"] = "hakotest"
    out = rt.run("sh", "-c", "hostname; echo $$")
    assert out.stdout.split() == ["hakotest", "1"], out.stderr


def test_proc_is_the_containers(rt):
    out = rt.run("sh", "-c", "ls /proc | grep -c '^[0-9]'; cat /proc/self/status | head -1")
    count, name = out.stdout.split("\n")[:2]
    assert int(count) <= 3, out.stdout  # sh, ls/grep: only the container's processes
    assert name.startswith("Name:")


def test_masked_paths_hide_content(rt):
    out = rt.run("sh", "-c", "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0"]


def test_readonly_paths_and_rootfs(rt):
    out = rt.run("sh", "-c", "touch /x; echo 1 > /proc/sys/kernel/domainname; echo done")
    assert "Read-only file system" in out.stderr
    assert out.stdout.strip() == "done"


def test_loopback_is_up_in_new_netns(rt):
    out = rt.run("cat", "/sys/class/net/lo/operstate")
    assert out.returncode == 0, out.stderr
    if rt.name == "hako":  # runc leaves lo down; we bring it up
        assert out.stdout.strip() == "unknown"


def test_user_switch(rt):
    out = rt.run("sh", "-c", "id -u; id -g; id -G",
                 user={"uid": 65534, "gid": 65534, "additionalGids": [5]})
    assert out.stdout.split() == ["65534", "65534", "65534", "5"], out.stderr


def test_env_and_cwd(rt):
    out = rt.run("sh", "-c", "echo $FOO; pwd", cwd="/tmp",
                 env=["PATH=/bin", "FOO=bar baz"])
    assert out.stdout.split("\n")[:2] == ["bar baz", "/tmp"], out.stderr


def test_cwd_is_created(rt):
    out = rt.run("pwd", cwd="/does/not/exist")
    if rt.name == "hako":
        assert out.stdout.strip() == "/does/not/exist", out.stderr


@pytest.mark.parametrize("arg0,text", [
    ("nosuchcommand", 'exec: "nosuchcommand": executable file not found in $PATH'),
    ("/etc/passwd", 'exec: "/etc/passwd": permission denied'),
])
def test_exec_errors_fail_create(rt, arg0, text):
    rt.write_spec(args=[arg0])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert text.replace('"', '\\"') in out.stderr or text in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1


def test_unlimited_rlimit(rt):
    """An rlimit of 2**64-1 is RLIM_INFINITY ("unlimited"), as runc reads it (hako-runtime
    used to fail create converting it to a C long)."""
    import resource

    if resource.getrlimit(resource.RLIMIT_CORE)[1] != resource.RLIM_INFINITY:
        pytest.skip("the hard RLIMIT_CORE is finite here: raising it needs CAP_SYS_RESOURCE")
    out = rt.run("sh", "-c", "ulimit -c", rlimits=[
        {"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1}])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "unlimited"


def test_rlimit_above_hard_limit_fails(rt):
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no finite hard RLIMIT_NOFILE to exceed")
    rt.write_spec(args=["true"], rlimits=[{"type": "RLIMIT_NOFILE", "soft": hard + 1,
                                          "hard": hard + 1}])
    out = rt.cmd("create", "--bundle", rt.bundle, rt.new_id())
    if out.returncode == 0:
        pytest.skip("this host lets root raise the hard limit (CAP_SYS_RESOURCE)")
    assert "error setting rlimit type 7: operation not permitted" in out.stderr


def test_lifecycle_states_and_kill(rt):
    rt.write_spec(args=["sleep", "100"])
    cid = rt.new_id()
    pid_file = os.path.join(rt.bundle, "pid")
    out = rt.cmd("create", "--bundle", rt.bundle, "--pid-file", pid_file, cid)
    assert out.returncode == 0, out.stderr
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == rt.bundle
    with open(pid_file) as f:
        assert int(f.read()) == st["pid"]
    assert rt.cmd("start", cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    assert rt.cmd("kill", cid, "KILL").returncode == 0
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"


def test_pause_resume(rt):
    cid = rt.create_started("sleep", "100")
    assert rt.cmd("pause", cid).returncode == 0
    assert rt.state(cid)["status"] == "paused"
    assert rt.cmd("resume", cid).returncode == 0
    assert rt.state(cid)["status"] == "running"


def test_exec_into_running_container(rt):
    rt.spec["hostname"] = "execbox"
    cid = rt.create_started("sleep", "100")
    out = rt.cmd("exec", "--env", "X=1", "--cwd", "/tmp", cid,
                 "sh", "-c", "hostname; echo $X; pwd; ps -o pid,comm | grep -c sleep")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["execbox", "1", "/tmp", "1"]
    assert rt.cmd("exec", cid, "sh", "-c", "exit 5").returncode == 5
    out = rt.cmd("ps", "--format", "json", cid)
    assert rt.state(cid)["pid"] in [int(p) for p in out.stdout.strip("[]\n").split(",")]


def test_delete_removes_state_and_cgroup(rt):
    cid = rt.create_started("sleep", "100")
    out = rt.cmd("delete", cid)
    assert out.returncode == 1 and "not stopped" in out.stderr
    assert rt.cmd("delete", "--force", cid).returncode == 0
    out = rt.cmd("state", cid)
    assert out.returncode == 1 and "container does not exist" in out.stderr
    assert rt.leftover_cgroups() == []


def _serve_console(path: str, result: dict) -> threading.Thread:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(30)

    def accept() -> None:
        try:
            conn, _ = srv.accept()
            with conn:
                fds = array.array("i")
                msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_LEN(fds.itemsize))
                for _level, _kind, data in anc:
                    fds.frombytes(data[:fds.itemsize])
                result["fd"], result["name"] = fds[0], msg.decode()
        finally:
            srv.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return thread


def test_terminal_via_console_socket(rt):
    rt.write_spec(args=["sh", "-c", "tty; stty size; echo ok"], terminal=True,
                  consoleSize={"height": 30, "width": 100})
    cid = rt.new_id()
    sock_path = os.path.join(os.path.dirname(rt.bundle), "console.sock")
    result: dict = {}
    thread = _serve_console(sock_path, result)
    out = rt.cmd("create", "--bundle", rt.bundle, "--console-socket", sock_path, cid)
    assert out.returncode == 0, out.stderr
    thread.join(10)
    master = result["fd"]
    try:
        assert rt.cmd("start", cid).returncode == 0
        data = b""
        while b"ok" not in data:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the slave side closed
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
    lines = data.decode().split()
    assert lines[0].startswith("/dev/pts/"), data
    assert lines[1:] == ["30", "100", "ok"], data


@pytest.mark.parametrize("kind", ["tmpfs", "bind"])
def test_mount_destination_symlinks_stay_inside_the_rootfs(rt, tmp_path, kind):
    """An image's absolute symlink on a mount destination's path is resolved inside the
    rootfs: nothing is created or mounted on the host path it names."""
    host = tmp_path / "host-victim"
    host.mkdir()
    os.symlink(str(host), os.path.join(rt.rootfs, "evil"))
    os.symlink("../../" * 8 + str(host).lstrip("/"), os.path.join(rt.rootfs, "evil2"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("bound\n")
    mounts = [{"destination": "/evil/made/deeper", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid"]} if kind == "tmpfs" else
              {"destination": "/evil/made/deeper", "type": "bind", "source": str(src),
               "options": ["rbind", "ro"]},
              {"destination": "/evil2/made2", "type": "tmpfs", "source": "tmpfs", "options": []}]
    rt.spec["mounts"] = list(rt.spec["mounts"]) + mounts
    inside = str(host) + "/made/deeper"
    out = rt.run("sh", "-c", f"grep -c ' {inside} ' /proc/self/mountinfo; "
                             f"grep -c ' {host}/made2 ' /proc/self/mountinfo; "
                             f"touch {inside}/w 2>/dev/null && echo rw || echo ro")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "1", "rw" if kind == "tmpfs" else "ro"]
    assert os.listdir(host) == []


def _default_seccomp(rt):
    from hako.runtime import seccomp

    return seccomp.default_profile(rt.spec["process"]["capabilities"]["bounding"])


@pytest.mark.parametrize("nnp", [False, True])
def test_seccomp_filter_applies_to_init_and_exec(rt, nnp):
    rt.spec["linux"]["seccomp"] = _default_seccomp(rt)
    rt.spec["process"]["noNewPrivileges"] = nnp
    out = rt.run("sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; "
                 "unshare -U true && echo unshared || echo refused")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["NoNewPrivs:", "1" if nnp else "0", "Seccomp:", "2",
                                  "refused"], out.stdout
    cid = rt.create_started("sleep", "100")
    out = rt.cmd("exec", cid, "sh", "-c", "grep '^Seccomp:' /proc/self/status")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Seccomp:", "2"]


def test_custom_seccomp_errno(rt):
    rt.spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    rt.spec["root"]["readonly"] = False
    out = rt.run("sh", "-c", "mkdir /tmp/x || echo refused")
    assert out.stdout.strip() == "refused" and "Permission denied" in out.stderr


def test_unloadable_seccomp_fails_create(rt):
    rt.spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_BOGUS"}
    out = rt.run("true")
    assert out.returncode != 0 and out.stdout == ""
    assert "SCMP_ACT_BOGUS" in out.stderr or "action" in out.stderr.lower(), out.stderr


@pytest.mark.parametrize("rt", ["hako"], indirect=True)  # the cache is hako-runtime's
def test_seccomp_filter_is_compiled_once(rt):
    rt.spec["linux"]["seccomp"] = _default_seccomp(rt)
    assert rt.run("true").returncode == 0
    cache = os.path.join(rt.root, "@seccomp")
    blobs = os.listdir(cache)
    assert len(blobs) == 1 and blobs[0].endswith(".bpf")
    assert oct(os.stat(cache).st_mode & 0o777) == "0o700"
    before = os.stat(os.path.join(cache, blobs[0])).st_mtime_ns
    assert rt.run("true").returncode == 0
    assert os.listdir(cache) == blobs
    assert os.stat(os.path.join(cache, blobs[0])).st_mtime_ns == before
    assert "@seccomp" not in rt.cmd("list").stdout


def test_shared_rootfs_propagation_sees_host_mounts(rt, tmp_path):
    """rootfsPropagation shared and an rshared bind: a mount the host makes under the
    shared directory after the start appears inside the container."""
    import subprocess

    shared = tmp_path / "shared"
    shared.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        (shared / "sub").mkdir()
        rt.spec["linux"]["rootfsPropagation"] = "shared"
        rt.spec["mounts"] = list(rt.spec["mounts"]) + [
            {"destination": "/mnt", "type": "bind", "source": str(shared),
             "options": ["rbind", "rshared"]}]
        cid = rt.create_started("sh", "-c", "i=0; while [ $i -lt 600 ]; do "
                                "grep -q ' /mnt/sub .*hako-prop' /proc/self/mountinfo && "
                                "{ echo seen > /mnt/result; exit 0; }; i=$((i+1)); sleep 0.05; "
                                "done; echo missed > /mnt/result")
        subprocess.run(["mount", "-t", "tmpfs", "hako-prop", str(shared / "sub")], check=True)
        rt.wait_status(cid, "stopped", timeout=40)
        subprocess.run(["umount", str(shared / "sub")], check=True)
        assert (shared / "result").read_text().strip() == "seen"
    finally:
        subprocess.run(["umount", "-R", str(shared)], check=False)


def test_relative_cgroups_path_is_under_the_runtimes_own_cgroup(rt):
    """A relative cgroupsPath lands under the runtime's own cgroup of each hierarchy (runc's
    GetOwnCgroupPath), not at the hierarchy's root."""
    from hako.runtime.cgroups.base import own_cgroups

    name = f"hako-rel-{os.getpid()}-{rt.name}"
    rt.write_spec(args=["sleep", "100"])
    import json

    path = os.path.join(rt.bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["linux"]["cgroupsPath"] = name
    with open(path, "w") as f:
        json.dump(spec, f)
    cid = rt.new_id()
    assert rt.cmd("create", "--bundle", rt.bundle, cid).returncode == 0
    try:
        pid = rt.state(cid)["pid"]
        theirs = {}
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f.read().splitlines():
                _, ctls, p = line.split(":", 2)
                theirs[ctls] = p
        own = own_cgroups()
        assert theirs["memory"] == own["memory"] + "/" + name
        assert theirs["pids"] == own["pids"] + "/" + name
    finally:
        rt.cmd("delete", "--force", cid)
    for ctl in ("memory", "pids"):
        assert not os.path.exists(f"/sys/fs/cgroup/{ctl}{own[ctl]}/{name}")


@pytest.mark.parametrize("word", ["unbindable", "runbindable"])
def test_unbindable_rootfs_propagation(rt, word):
    """rootfsPropagation unbindable: the container's "/" is unbindable. runc 1.1 makes "/"
    unbindable before binding the rootfs from it, which the kernel refuses (EINVAL), so
    create fails there; hako-runtime makes the rootfs bind unbindable instead."""
    rt.spec["linux"]["rootfsPropagation"] = word
    out = rt.run("sh", "-c", "grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ' /proc/self/mountinfo")
    if rt.name == "runc":
        assert out.returncode == 1 and "invalid argument" in out.stderr, out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert "unbindable" in out.stdout.split(), out.stdout
