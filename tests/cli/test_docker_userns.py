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

from tests.daemon_harness import docker, exclusive, import_busybox, new_daemon, out

pytestmark = pytest.mark.integration

_FILES = ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")


def _etc_kept():
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
def etc_restored():
    """/etc as the module found it; no other test process changes it meanwhile (it is put
    back by rewriting the files)."""
    with exclusive("etc"):
        yield from _etc_kept()


@pytest.fixture
def etc_restored_each():
    """/etc as the test found it (the module runs once per client: hakoremap, made by the
    first run, must be gone for the next)."""
    yield from _etc_kept()


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


@pytest.mark.parametrize("flag,needle", [
    ("--privileged", "privileged mode is incompatible with user namespaces"),
    ("--network=host", "cannot share the host's network namespace"),
])
def test_host_namespaces_and_privileged_need_userns_host(remapd, docker_cli, flag, needle):
    res = docker(remapd, docker_cli, "create", flag, "busybox")
    assert res.returncode != 0 and needle in res.stderr.decode()
    name = "h" + uuid.uuid4().hex[:8]
    try:
        docker(remapd, docker_cli, "create", "--name", name, "--userns=host", flag, "busybox", check=True)
    finally:
        docker(remapd, docker_cli, "rm", "-f", name)


def test_network_exec_and_named_volume(remapd, remap_user, docker_cli):
    name, vol = "u" + uuid.uuid4().hex[:8], "v" + uuid.uuid4().hex[:8]
    try:
        docker(remapd, docker_cli, "run", "-d", "--name", name, "-v", f"{vol}:/vol", "busybox",
               "sleep", "60", check=True)
        res = docker(remapd, docker_cli, "exec", name, "sh", "-c",
                     "touch /vol/x && ip -o -4 addr show eth0 && cat /proc/self/uid_map", check=True)
        assert f"inet {remapd.subnet.rsplit('.', 1)[0]}." in out(res)
        assert out(res).split()[-3:] == ["0", str(remap_user[1]), "65536"]
        src = out(docker(remapd, docker_cli, "volume", "inspect", "-f", "{{.Mountpoint}}", vol,
                         check=True)).strip()
        assert os.stat(os.path.join(src, "x")).st_uid == remap_user[1]
        docker(remapd, docker_cli, "exec", name, "sh", "-c", "mkdir /etc/made && touch /etc/made/f",
               check=True)
        host_file = os.path.join(remapd.root, "copied")
        with open(host_file, "w") as f:
            f.write("hi")
        docker(remapd, docker_cli, "cp", host_file, f"{name}:/etc/made/copied", check=True)
        res = docker(remapd, docker_cli, "exec", name, "stat", "-c", "%u", "/etc/made/copied", check=True)
        assert out(res).strip() == "0"  # container root's, as Docker's cp into a remapped container
        docker(remapd, docker_cli, "stop", "-t", "0", name, check=True)
        res = docker(remapd, docker_cli, "diff", name, check=True)  # stopped: container ids
        assert "A /etc/made/f" in out(res)
        docker(remapd, docker_cli, "start", name, check=True)
        res = docker(remapd, docker_cli, "exec", name, "sh", "-c", "touch /etc/made/g && stat -c %u /etc/made/f",
                     check=True)
        assert out(res).strip() == "0"
    finally:
        docker(remapd, docker_cli, "rm", "-f", name)
        docker(remapd, docker_cli, "volume", "rm", "-f", vol)


def test_named_volume_copied_from_the_image_belongs_to_container_root(remapd, remap_user, docker_cli):
    vol = "v" + uuid.uuid4().hex[:8]
    try:
        res = docker(remapd, docker_cli, "run", "--rm", "-v", f"{vol}:/etc", "busybox", "sh", "-c",
                     "stat -c %u /etc/passwd && touch /etc/new", check=True)
        assert out(res).strip() == "0"
        src = out(docker(remapd, docker_cli, "volume", "inspect", "-f", "{{.Mountpoint}}", vol,
                         check=True)).strip()
        assert os.stat(os.path.join(src, "passwd")).st_uid == remap_user[1]
    finally:
        docker(remapd, docker_cli, "volume", "rm", "-f", vol)


def test_build_runs_steps_as_remapped_root_and_commits_container_ids(remapd, remap_user, docker_cli):
    ctx = tempfile.mkdtemp(prefix="hako-userns-build-", dir="/tmp")
    tag = "userns-build-" + uuid.uuid4().hex[:6]
    try:
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM busybox\nRUN cat /proc/self/uid_map > /map && touch /made\n")
        docker(remapd, docker_cli, "build", "-q", "-t", tag, ctx, check=True, timeout=120)
        res = docker(remapd, docker_cli, "run", "--rm", tag, "sh", "-c", "cat /map; stat -c %u /made",
                     check=True)
        lines = out(res).split("\n")
        assert lines[0].split() == ["0", str(remap_user[1]), "65536"] and lines[1] == "0"
        res = docker(remapd, docker_cli, "run", "--rm", "--userns=host", tag, "stat", "-c", "%u",
                     "/made", check=True)
        assert out(res).strip() == "0"  # the layer holds container ids, not host ones
    finally:
        docker(remapd, docker_cli, "rmi", "-f", tag)
        shutil.rmtree(ctx)


def test_commit_and_export_of_a_running_container_record_container_ids(remapd, remap_user, docker_cli):
    """While it runs, a remapped container's upper dir holds host ids; what commit and export
    write holds the container's (Docker maps them back through its id mapping)."""
    import io
    import tarfile

    tag = "userns-commit-" + uuid.uuid4().hex[:6]
    name = "userns-run-" + uuid.uuid4().hex[:6]
    try:
        docker(remapd, docker_cli, "run", "-d", "--name", name, "busybox", "sh", "-c",
               "touch /rootfile /userfile && chown 1000:1001 /userfile && touch /ready && sleep 300",
               check=True)
        import time
        deadline = time.monotonic() + 30
        while docker(remapd, docker_cli, "exec", name, "test", "-e", "/ready").returncode != 0:
            assert time.monotonic() < deadline, "the container never made its files"
        docker(remapd, docker_cli, "commit", name, tag, check=True)
        res = docker(remapd, docker_cli, "run", "--rm", "--userns=host", tag, "stat", "-c",
                     "%u:%g", "/rootfile", "/userfile", "/etc/passwd", check=True)
        assert out(res).split() == ["0:0", "1000:1001", "0:0"]
        exported = subprocess.run([docker_cli, "export", name], env=remapd.env,
                                  capture_output=True, timeout=60, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
            owners = {m.name: (m.uid, m.gid) for m in tf.getmembers()}
        assert owners["rootfile"] == (0, 0) and owners["userfile"] == (1000, 1001)
        assert owners["bin/busybox"] == (0, 0)
    finally:
        docker(remapd, docker_cli, "rm", "-f", name)
        docker(remapd, docker_cli, "rmi", "-f", tag)


def test_default_from_the_config_file_creates_hakoremap(etc_restored, etc_restored_each, docker_cli):
    from hako.daemon import userns

    assert "hakoremap:" not in open("/etc/passwd").read()
    d = new_daemon()
    os.chmod(d.root, 0o711)
    with open(os.path.join(d.root, "daemon.json"), "w") as f:
        f.write('{"userns-remap": "default"}')
    try:
        d.start()
        uid = [line for line in open("/etc/subuid") if line.startswith("hakoremap:")]
        assert len(uid) == 1
        start = uid[0].split(":")[1]
        import_busybox(d)
        res = docker(d, docker_cli, "run", "--rm", "busybox", "cat", "/proc/self/uid_map", check=True)
        assert out(res).split() == ["0", start, "65536"]
        assert userns.DEFAULT_USER == "hakoremap"
    finally:
        d.cleanup()


@pytest.mark.parametrize("value,needle", [
    ("nosuchuser" + uuid.uuid4().hex[:4], "uid lookup"),
    ("nobody", 'no subuid ranges found for user "nobody"'),
], ids=["unknown-user", "no-subuid-range"])  # stable ids: xdist workers collect the same tests
def test_bad_remap_refuses_to_start(value, needle, etc_restored):
    d = new_daemon(extra_args=("--userns-remap", value))
    try:
        with pytest.raises(RuntimeError) as err:
            d.start(timeout=10)
        assert needle in str(err.value)
        assert not os.path.exists(d.data_root)
    finally:
        d.cleanup()


def test_data_root_without_idmapped_mounts_refuses_to_start(remap_user):
    d = new_daemon(extra_args=("--userns-remap", remap_user[0]))
    layers = os.path.join(d.root, "layers")
    for sub in ("l", "u", "w"):
        os.makedirs(os.path.join(layers, sub))
    os.makedirs(d.data_root)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",  # overlay refuses to be idmapped
                    f"lowerdir={layers}/l,upperdir={layers}/u,workdir={layers}/w", d.data_root],
                   check=True)
    try:
        with pytest.raises(RuntimeError) as err:
            d.start(timeout=10)
        assert f"the filesystem of {d.data_root} does not support idmapped mounts" in str(err.value)
        assert os.listdir(d.data_root) == []
    finally:
        subprocess.run(["umount", d.data_root], check=True)
        d.cleanup()
