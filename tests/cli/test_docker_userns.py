"""Black-box: hakod --userns-remap through the real docker CLI.

The test user and its subuid/subgid ranges are made here; /etc/passwd, group, shadow,
gshadow, subuid and subgid are restored byte for byte afterwards, even on failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from tests.daemon_harness import docker, import_busybox, new_daemon, out

pytestmark = pytest.mark.integration

_FILES = ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")


@pytest.fixture(scope="module")
def etc_restored():
    saved = {}
    for name in _FILES:
        path = os.path.join("/etc", name)
        saved[name] = open(path, "rb").read() if os.path.exists(path) else None
    try:
        yield
    finally:
        for name, data in saved.items():
            path = os.path.join("/etc", name)
            if data is None:
                if os.path.exists(path):
                    os.unlink(path)
                continue
            with open(path, "r+b") as f:  # in place: keep mode and owner
                f.write(data)
                f.truncate()


@pytest.fixture(scope="module")
def remap_user(etc_restored):
    from hako.daemon import userns

    name = "hkremap" + uuid.uuid4().hex[:6]
    subprocess.run(["useradd", "-r", "-s", "/bin/false", name], check=True)
    start = userns._free_start(("/etc/subuid", "/etc/subgid"))
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path, "a") as f:
            f.write(f"{name}:{start}:65536\n")
    return name, start


@pytest.fixture(scope="module")
def remapd(remap_user, docker_cli):
    d = new_daemon(extra_args=("--userns-remap", remap_user[0]))
    os.chmod(d.root, 0o711)  # remapped root must reach the bundle (dockerd's 0711 roots)
    try:
        d.start()
        import_busybox(d)
        yield d
    finally:
        d.cleanup()


def test_root_is_mapped_and_bind_mount_files_belong_to_the_subordinate_uid(remapd, remap_user, docker_cli):
    start = remap_user[1]
    host = tempfile.mkdtemp(prefix="hako-userns-", dir="/tmp")
    os.chmod(host, 0o777)
    try:
        res = docker(remapd, docker_cli, "run", "--rm", "-v", f"{host}:/data", "busybox", "sh", "-c",
                     "cat /proc/self/uid_map; touch /data/made; id -u", check=True)
        lines = out(res).split("\n")
        assert lines[0].split() == ["0", str(start), "65536"]
        assert lines[1] == "0"
        st = os.stat(os.path.join(host, "made"))
        assert (st.st_uid, st.st_gid) == (start, start)
    finally:
        shutil.rmtree(host)


def test_userns_host_gives_the_identity_map(remapd, docker_cli):
    res = docker(remapd, docker_cli, "run", "--rm", "--userns=host", "busybox", "cat",
                 "/proc/self/uid_map", check=True)
    assert out(res).split() == ["0", "0", "4294967295"]


def test_info_lists_userns(remapd, docker_cli):
    res = docker(remapd, docker_cli, "info", "-f", "{{json .SecurityOptions}}", check=True)
    assert "name=userns" in out(res)


def test_other_userns_mode_is_refused(remapd):
    status, body = remapd.api("POST", "/containers/create", {
        "Image": "busybox", "HostConfig": {"UsernsMode": "private"}})
    assert status == 400 and "UsernsMode" in body["message"]


@pytest.mark.parametrize("value,needle", [
    ("nosuchuser" + uuid.uuid4().hex[:4], "uid lookup"),
    ("nobody", 'no subuid ranges found for user "nobody"'),
])
def test_bad_remap_refuses_to_start(value, needle, etc_restored):
    d = new_daemon(extra_args=("--userns-remap", value))
    try:
        with pytest.raises(RuntimeError) as err:
            d.start(timeout=10)
        assert needle in str(err.value)
        assert not os.path.exists(d.data_root)
    finally:
        d.cleanup()
