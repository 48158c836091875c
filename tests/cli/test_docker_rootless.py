"""Black-box: rootless hakod (an unprivileged user's daemon) through the real docker CLI.

A user is made here with a subordinate id range; its hakod picks the rootless defaults
(data root under ~/.local/share/hako, socket $XDG_RUNTIME_DIR/hako.sock), runs in its own
user, mount and network namespaces (slirp4netns) and is driven as root through that socket.
The user, its home and ranges, and every process it ran are removed afterwards, even on
failure; nothing it mounted is visible on the host.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import urllib.request

import pytest

from tests.daemon_harness import poll
from tests.rootless_harness import DevicesOpened, RootlessHakod, RootlessUser, system_python_ok

pytestmark = pytest.mark.integration

DOCKER = "/usr/local/bin/docker"


def _host_mounts() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


@pytest.fixture(scope="module", params=["overlay2", "fuse-overlayfs"])
def rootless(request, tmp_path_factory):
    """The daemon on the kernel's overlayfs (this kernel allows it in a user namespace), and
    on fuse-overlayfs (the fallback where it does not)."""
    why = system_python_ok() or ("" if os.path.exists(DOCKER) else f"{DOCKER} is missing")
    if why:
        pytest.skip(why)
    logs = str(tmp_path_factory.mktemp("rootless-logs"))
    netns_before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    user = RootlessUser()
    with DevicesOpened():
        try:
            user.create()
            d = RootlessHakod(user, logs, ("--storage-driver", request.param)).start()
            d.driver = request.param
            yield d
            assert d.stop() == 0, d.read_log()
            poll(lambda: not user.pids(), timeout=15)  # containers, shims, slirp4netns: all gone
        finally:
            user.remove()
    assert user.home not in _host_mounts() and user.run_dir not in _host_mounts()
    netns_after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert netns_after <= netns_before
    assert subprocess.run(["id", user.name], capture_output=True).returncode != 0
    assert user.name not in open("/etc/subuid").read()


def _cli(d: RootlessHakod, config: str):
    """The docker CLI on ``d``'s socket, with busybox:latest imported."""
    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        res = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout,
                             env=d.env(config))
        if check and res.returncode:
            raise AssertionError(f"docker {' '.join(args)}: {res.stderr}\n{d.read_log()}")
        return res

    from tests.data.rootfs import make_busybox_rootfs_tar

    with tempfile.TemporaryDirectory() as tmp:
        tar = make_busybox_rootfs_tar(os.path.join(tmp, "busybox.tar"))
        run("import", "-c", 'CMD ["sh"]', tar, "busybox:latest")
    return run


@pytest.fixture(scope="module")
def cli(rootless, tmp_path_factory):
    return _cli(rootless, str(tmp_path_factory.mktemp("docker-config")))


def test_defaults_and_info(rootless, cli):
    user = rootless.user
    assert os.path.isdir(os.path.join(user.home, ".local/share/hako/containers"))
    info = cli("info", "--format", "{{.Driver}} {{.CgroupDriver}} {{json .SecurityOptions}} "
                                   "{{.DockerRootDir}}").stdout
    assert info.startswith(f"{rootless.driver} none "), info
    assert '"name=rootless"' in info
    assert info.split()[-1] == os.path.join(user.home, ".local/share/hako")


def test_network_goes_out_through_slirp4netns(rootless, cli):
    """The daemon's netns routes out through slirp4netns's tap0 and masquerades the bridge;
    containers resolve through slirp4netns's DNS (nothing is sent: configuration only)."""
    pid = str(rootless.inner_pid())
    route = subprocess.run(["nsenter", "-t", pid, "-n", "ip", "route", "show", "default"],
                           capture_output=True, text=True, check=True).stdout
    assert "via 10.0.2.2 dev tap0" in route, route
    rules = subprocess.run(["nsenter", "-t", pid, "-n", "nft", "list", "ruleset"],
                           capture_output=True, text=True, check=True).stdout
    assert "masquerade" in rules, rules
    forward = subprocess.run(["nsenter", "-t", pid, "-n", "cat", "/proc/sys/net/ipv4/ip_forward"],
                             capture_output=True, text=True, check=True).stdout
    assert forward == "1\n"
    assert "nameserver 10.0.2.3" in cli("run", "--rm", "busybox", "cat", "/etc/resolv.conf").stdout
    host_routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "tap0" not in host_routes


def test_run_is_root_inside_mapped_to_the_user(rootless, cli):
    out = cli("run", "--rm", "busybox", "sh", "-c", "id -u; id -g; cat /proc/self/uid_map").stdout
    lines = out.split("\n")
    assert lines[:2] == ["0", "0"], out
    maps = [line.split() for line in lines[2:] if line.strip()]
    user = rootless.user
    assert maps[0] == ["0", str(user.uid), "1"]
    assert maps[1] == ["1", str(user.start), "65536"]


def test_files_belong_to_the_user_and_its_range(rootless, cli):
    """What the container writes as root is the user's on the host; uid 1000 inside is
    subordinate uid start+999."""
    cli("run", "--name", "rl-owner", "busybox", "sh", "-c",
        "echo a > /root-file && echo b > /u-file && chown 1000:1000 /u-file")
    try:
        upper = poll(lambda: [os.path.join(r, "root-file") for r, _, files in
                              os.walk(os.path.join(rootless.user.home, ".local/share/hako/snapshots"))
                              if "root-file" in files], timeout=5)[0]
        assert os.stat(upper).st_uid == rootless.user.uid
        assert os.stat(os.path.join(os.path.dirname(upper), "u-file")).st_uid == rootless.user.start + 999
    finally:
        cli("rm", "-f", "rl-owner")


def test_build(rootless, cli, tmp_path):
    """Layers keep container ids; a deletion (a whiteout) and a replaced directory (an opaque
    one: user.overlay.opaque, trusted.* being out of reach) stay so in the image."""
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN mkdir /www && echo old > /www/old\n"
        "RUN rm -rf /www && mkdir /www && echo built > /www/index.html && chown -R 33:33 /www\n"
        "RUN rm /bin/vi\n"
        'CMD ["cat", "/www/index.html"]\n')
    cli("build", "-t", "rl-built", str(tmp_path))
    assert cli("run", "--rm", "rl-built").stdout == "built\n"
    out = cli("run", "--rm", "rl-built", "sh", "-c", "stat -c %u /www/index.html; test -e /bin/vi || echo gone; ls /www").stdout
    assert out == "33\ngone\nindex.html\n", out  # /www is opaque: its old file is gone


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fetch(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def test_publish_on_host_loopback(rootless, cli):
    port = _free_port()
    cli("run", "-d", "--name", "rl-web", "-p", f"127.0.0.1:{port}:8080", "busybox", "sh", "-c",
        "mkdir /www && echo published > /www/index.html && exec httpd -f -p 8080 -h /www")
    try:
        assert poll(lambda: _fetch(port), timeout=20) == "published\n"
        assert cli("port", "rl-web").stdout.strip() == f"8080/tcp -> 127.0.0.1:{port}"
    finally:
        cli("rm", "-f", "rl-web")
    with socket.socket() as s:  # the host-side forward went with the container
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_resource_limits_refused(cli):
    res = cli("run", "--rm", "-m", "64m", "busybox", "true", check=False)
    assert res.returncode == 125
    assert re.search(r"rootless hakod has no cgroups.*HostConfig\.Memory \(--memory\)", res.stderr)
    res = cli("run", "--rm", "--cpus", "0.5", "busybox", "true", check=False)
    assert res.returncode == 125 and "--cpus" in res.stderr
    cli("run", "-d", "--name", "rl-limits", "busybox", "sleep", "1000")
    try:
        res = cli("update", "--memory", "64m", "rl-limits", check=False)
        assert res.returncode == 1 and "HostConfig.Memory (--memory)" in res.stderr, res.stderr
        res = cli("pause", "rl-limits", check=False)
        assert res.returncode == 1 and "cgroups are not available" in res.stderr, res.stderr
        assert cli("inspect", "-f", "{{.State.Status}}", "rl-limits").stdout == "running\n"
    finally:
        cli("rm", "-f", "rl-limits")


def test_user_without_subuid_range_is_refused(tmp_path):
    if system_python_ok():
        pytest.skip(system_python_ok())
    user = RootlessUser(subids=False)
    try:
        user.create()
        res = subprocess.run(user.argv("hakod"), capture_output=True, text=True, timeout=60)
        assert res.returncode == 1
        assert f'no subordinate ids for user "{user.name}" in /etc/subuid' in res.stderr
        assert not os.path.exists(os.path.join(user.run_dir, "hako.sock"))
        assert not user.pids()
    finally:
        user.remove()


def test_killed_daemon_leaves_nothing_running(tmp_path):
    """SIGKILL of the daemon: its parent (the shims' subreaper) kills what it left behind,
    and stops slirp4netns."""
    if system_python_ok() or not os.path.exists(DOCKER):
        pytest.skip(system_python_ok() or f"{DOCKER} is missing")
    user = RootlessUser()
    with DevicesOpened():
        try:
            user.create()
            d = RootlessHakod(user, str(tmp_path)).start()
            run = _cli(d, str(tmp_path / "config"))
            run("run", "-d", "--name", "rl-sleeper", "-p", f"127.0.0.1:{_free_port()}:80",
                "busybox", "sleep", "1000")
            os.kill(d.inner_pid(), 9)
            assert d.proc.wait(30) == 137
            poll(lambda: not user.pids(), timeout=15)
        finally:
            user.remove()
