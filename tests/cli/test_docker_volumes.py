"""Black-box: volumes and bind mounts through the real docker CLI (the seed's ディレクトリ共有).

Every test removes the containers, volumes and host directories it made, even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration


@pytest.fixture
def cleanup(hakod, docker_cli):
    """Names of containers and volumes to remove at the end, and host dirs to delete."""
    made = {"containers": [], "volumes": [], "dirs": []}
    yield made
    for c in reversed(made["containers"]):
        docker(hakod, docker_cli, "rm", "-f", "-v", c)
    for v in made["volumes"]:
        docker(hakod, docker_cli, "volume", "rm", "-f", v)
    for d in made["dirs"]:
        shutil.rmtree(d, ignore_errors=True)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _host_dir(cleanup) -> str:
    d = tempfile.mkdtemp(prefix="hako-vol-host-", dir="/tmp")
    cleanup["dirs"].append(d)
    return d


def test_seed_volumes_from_chain(hakod, docker_cli, cleanup):
    data, c1, c2 = _name("DATA"), _name("client1"), _name("client2")
    cleanup["containers"] += [data, c1, c2]
    docker(hakod, docker_cli, "run", "-v", "/var/volume1", "-v", "/var/volume2", "--name", data,
           "busybox", "true", check=True)
    res = docker(hakod, docker_cli, "run", "--volumes-from", data, "--name", c1, "busybox",
                 "sh", "-c", "ls -d /var/volume1 /var/volume2 && touch /var/volume1/from_client1",
                 check=True)
    assert out(res).split() == ["/var/volume1", "/var/volume2"]
    res = docker(hakod, docker_cli, "run", "--volumes-from", c1, "--name", c2, "busybox",
                 "sh", "-c", "ls /var/volume1 && ls -d /var/volume2", check=True)
    assert out(res).split() == ["from_client1", "/var/volume2"]
    mounts = {json.dumps(m, sort_keys=True) for m in json.loads(out(docker(
        hakod, docker_cli, "inspect", "-f", "{{json .Mounts}}", data, check=True)))}
    mounts2 = {json.dumps(m, sort_keys=True) for m in json.loads(out(docker(
        hakod, docker_cli, "inspect", "-f", "{{json .Mounts}}", c2, check=True)))}
    assert mounts == mounts2 and len(mounts) == 2
    for m in map(json.loads, mounts):
        assert m["Type"] == "volume" and m["Driver"] == "local" and m["RW"] is True
        assert m["Destination"] in ("/var/volume1", "/var/volume2")


def test_seed_host_directory_shared_everywhere(hakod, docker_cli, cleanup):
    host = _host_dir(cleanup)
    open(os.path.join(host, "from_host"), "w").close()
    data, c1, c2 = _name("DATA"), _name("client1"), _name("client2")
    cleanup["containers"] += [data, c1, c2]
    docker(hakod, docker_cli, "run", "-v", f"{host}:/container", "--name", data, "busybox", "true",
           check=True)
    res = docker(hakod, docker_cli, "run", "--rm", "--volumes-from", data, "--name", c1, "busybox",
                 "sh", "-c", "ls /container && touch /container/from_client1", check=True)
    assert out(res).split() == ["from_host"]
    res = docker(hakod, docker_cli, "run", "--rm", "--volumes-from", c1 if False else data,
                 "--name", c2, "busybox", "sh", "-c",
                 "ls /container && touch /container/from_client2", check=True)
    assert out(res).split() == ["from_client1", "from_host"]
    assert sorted(os.listdir(host)) == ["from_client1", "from_client2", "from_host"]
    [m] = json.loads(out(docker(hakod, docker_cli, "inspect", "-f", "{{json .Mounts}}", data,
                                check=True)))
    assert m == {"Type": "bind", "Source": host, "Destination": "/container", "Mode": "",
                 "RW": True, "Propagation": "rprivate"}


def test_volumes_from_chain_of_a_bind(hakod, docker_cli, cleanup):
    host = _host_dir(cleanup)
    data, c1 = _name("DATA"), _name("client1")
    cleanup["containers"] += [data, c1]
    docker(hakod, docker_cli, "create", "-v", f"{host}:/container", "--name", data, "busybox",
           check=True)
    docker(hakod, docker_cli, "create", "--volumes-from", f"{data}:ro", "--name", c1, "busybox",
           check=True)
    res = docker(hakod, docker_cli, "run", "--rm", "--volumes-from", c1, "busybox",
                 "touch", "/container/x")
    assert res.returncode != 0 and b"Read-only file system" in res.stderr
    assert os.listdir(host) == []


def test_named_volume_keeps_data(hakod, docker_cli, cleanup):
    vol = _name("keep")
    cleanup["volumes"].append(vol)
    docker(hakod, docker_cli, "run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c",
           "echo kept > /data/f", check=True)
    res = docker(hakod, docker_cli, "run", "--rm", "-v", f"{vol}:/other", "busybox",
                 "cat", "/other/f", check=True)
    assert out(res) == "kept\n"


def test_bind_read_only_refuses_writes(hakod, docker_cli, cleanup):
    host = _host_dir(cleanup)
    res = docker(hakod, docker_cli, "run", "--rm", "-v", f"{host}:/h:ro", "busybox",
                 "touch", "/h/x")
    assert res.returncode == 1 and b"Read-only file system" in res.stderr
    assert os.listdir(host) == []
    res = docker(hakod, docker_cli, "run", "--rm", "--mount",
                 f"type=bind,source={host},target=/h,readonly", "busybox", "touch", "/h/x")
    assert res.returncode == 1 and b"Read-only file system" in res.stderr


def test_read_only_rootfs_with_writable_volume(hakod, docker_cli, cleanup):
    res = docker(hakod, docker_cli, "run", "--rm", "--read-only", "-v", "/data", "busybox", "sh",
                 "-c", "touch /data/ok && ! touch /nope 2>/dev/null && echo fine")
    assert out(res) == "fine\n", res.stderr


def test_mount_tmpfs_and_volume(hakod, docker_cli, cleanup):
    vol = _name("mnt")
    cleanup["volumes"].append(vol)
    res = docker(hakod, docker_cli, "run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
                 "--mount", f"type=volume,source={vol},target=/v", "busybox", "sh", "-c",
                 "grep ' /t ' /proc/mounts | cut -d' ' -f3 && echo x > /v/x && cat /v/x", check=True)
    assert out(res).split() == ["tmpfs", "x"]


def test_image_volume_copy_up(hakod, docker_cli, cleanup):
    ctx = _host_dir(cleanup)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nRUN mkdir -p /srv/data && echo seeded > /srv/data/f && "
                "chown -R 1000:1000 /srv/data && chmod 0750 /srv/data\nVOLUME /srv/data\n")
    tag = _name("copyup")
    docker(hakod, docker_cli, "build", "-q", "-t", tag, ctx, check=True)
    name = _name("cu")
    cleanup["containers"].append(name)
    try:
        res = docker(hakod, docker_cli, "run", "--name", name, tag, "sh", "-c",
                     "cat /srv/data/f && stat -c '%u:%g %a' /srv/data /srv/data/f", check=True)
        assert out(res).split("\n")[:3] == ["seeded", "1000:1000 750", "1000:1000 644"]
        [m] = json.loads(out(docker(hakod, docker_cli, "inspect", "-f", "{{json .Mounts}}", name,
                                    check=True)))
        assert m["Type"] == "volume" and m["Destination"] == "/srv/data" and len(m["Name"]) == 64
        docker(hakod, docker_cli, "rm", "-v", name, check=True)
        res = docker(hakod, docker_cli, "volume", "inspect", m["Name"])
        assert res.returncode == 1  # rm -v removed the anonymous volume
    finally:
        docker(hakod, docker_cli, "rmi", "-f", tag)


@pytest.mark.parametrize("args,message", [
    (["-v", "rel/dir:/x"], '"rel/dir" includes invalid characters for a local volume name'),
    (["-v", "/tmp:x"], "invalid mount path: 'x' mount path must be absolute"),
    (["-v", "/tmp:/"], "destination can't be '/'"),
    (["-v", "/tmp:/x:bogus"], "invalid mode: bogus"),
    (["--mount", "type=bind,source=/nonexistent-hako,target=/x"],
     "bind source path does not exist: /nonexistent-hako"),
])
def test_bad_mount_input(hakod, docker_cli, args, message):
    res = docker(hakod, docker_cli, "run", "--rm", *args, "busybox", "true")
    assert res.returncode == 125, res.stderr
    assert message in res.stderr.decode()


def test_unknown_volume_driver_is_docker_404(hakod, docker_cli):
    # a 404 on create makes the docker CLI try a pull, as it does against Docker: ask the API
    body = {"Image": "busybox", "Cmd": ["true"],
            "HostConfig": {"Binds": ["hako-never-made:/x"], "VolumeDriver": "nosuch"}}
    status, resp = hakod.api("POST", "/containers/create", body)
    assert status == 404
    assert resp["message"] == ('create hako-never-made: error looking up volume plugin nosuch: '
                               'plugin "nosuch" not found')
    assert docker(hakod, docker_cli, "volume", "inspect", "hako-never-made").returncode == 1
    body["HostConfig"] = {"VolumesFrom": ["no-such-container-hako"]}
    status, resp = hakod.api("POST", "/containers/create", body)
    assert (status, resp["message"]) == (404, "No such container: no-such-container-hako")


def test_mount_over_proc_refused(hakod, docker_cli, cleanup):
    host = _host_dir(cleanup)
    res = docker(hakod, docker_cli, "run", "--rm", "-v", f"{host}:/proc", "busybox", "true")
    assert res.returncode != 0
    assert "cannot be mounted because it is not of type proc" in res.stderr.decode()
    res = docker(hakod, docker_cli, "run", "--rm", "-v", f"{host}:/proc/sys/kernel", "busybox",
                 "true")
    assert res.returncode != 0
    assert "cannot be mounted because it is inside /proc" in res.stderr.decode()


def test_volume_cli_lifecycle(hakod, docker_cli, cleanup):
    vol, other = _name("life"), _name("other")
    cleanup["volumes"] += [vol, other]
    assert out(docker(hakod, docker_cli, "volume", "create", "--label", "team=a", vol,
                      check=True)) == vol + "\n"
    docker(hakod, docker_cli, "volume", "create", other, check=True)
    [doc] = json.loads(out(docker(hakod, docker_cli, "volume", "inspect", vol, check=True)))
    assert doc["Name"] == vol and doc["Driver"] == "local" and doc["Scope"] == "local"
    assert doc["Labels"] == {"team": "a"}
    assert doc["Mountpoint"] == os.path.join(hakod.data_root, "volumes", vol, "_data")
    listed = out(docker(hakod, docker_cli, "volume", "ls", "-q", "--filter", "label=team=a",
                        check=True)).split()
    assert listed == [vol]
    table = out(docker(hakod, docker_cli, "volume", "ls", "--filter", f"name={vol}", check=True))
    assert table.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert table.splitlines()[1].split() == ["local", vol]
    cname = _name("user")
    cleanup["containers"].append(cname)
    docker(hakod, docker_cli, "create", "--name", cname, "-v", f"{vol}:/v", "busybox", check=True)
    cid = out(docker(hakod, docker_cli, "inspect", "-f", "{{.Id}}", cname, check=True)).strip()
    dangling = out(docker(hakod, docker_cli, "volume", "ls", "-q", "-f", "dangling=true",
                          check=True)).split()
    assert other in dangling and vol not in dangling
    res = docker(hakod, docker_cli, "volume", "rm", vol)
    assert res.returncode == 1
    assert f"remove {vol}: volume is in use - [{cid}]" in res.stderr.decode()
    docker(hakod, docker_cli, "run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c",
           "head -c 5000 /dev/zero > /v/blob", check=True)
    df = json.loads(out(docker(hakod, docker_cli, "system", "df", "-v", "--format", "{{json .}}",
                               check=True)))
    [usage] = [v for v in df["Volumes"] if v["Name"] == vol]
    assert str(usage["Links"]) == "1" and usage["Size"] in ("5kB", "5.000kB", "5000B")
    docker(hakod, docker_cli, "rm", cname, check=True)
    res = docker(hakod, docker_cli, "volume", "prune", "-f", "--filter", "label=team=a",
                 check=True)
    assert f"Deleted Volumes:\n{vol}\n" in out(res)
    assert "Total reclaimed space: 5kB" in out(res)
    assert not os.path.exists(os.path.join(hakod.data_root, "volumes", vol))
    res = docker(hakod, docker_cli, "volume", "inspect", vol)
    assert res.returncode == 1 and f"get {vol}: no such volume" in res.stderr.decode()
    assert out(docker(hakod, docker_cli, "volume", "rm", other, check=True)) == other + "\n"


def test_volume_bad_input(hakod, docker_cli):
    res = docker(hakod, docker_cli, "volume", "create", "-d", "nosuch", "hako-bad-driver")
    assert res.returncode == 1
    assert ('create hako-bad-driver: error looking up volume plugin nosuch: plugin "nosuch" '
            'not found') in res.stderr.decode()
    res = docker(hakod, docker_cli, "volume", "create", "../escape")
    assert res.returncode == 1 and "includes invalid characters" in res.stderr.decode()
    assert not os.path.exists(os.path.join(hakod.data_root, "escape"))
    res = docker(hakod, docker_cli, "volume", "create", "-o", "bogus=1", "hako-bad-opt")
    assert res.returncode == 1 and 'invalid option key: "bogus"' in res.stderr.decode()
    res = docker(hakod, docker_cli, "volume", "rm", "hako-no-such-volume")
    assert res.returncode == 1 and "no such volume" in res.stderr.decode()


def test_tmpfs_volume_options(hakod, docker_cli, cleanup):
    vol = _name("tmpfsvol")
    cleanup["volumes"].append(vol)
    docker(hakod, docker_cli, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs",
           "-o", "o=size=2m", vol, check=True)
    res = docker(hakod, docker_cli, "run", "--rm", "-v", f"{vol}:/t", "busybox", "sh", "-c",
                 "grep ' /t ' /proc/mounts | cut -d' ' -f3", check=True)
    assert out(res) == "tmpfs\n"
    mountpoint = os.path.join(hakod.data_root, "volumes", vol, "_data")
    with open("/proc/self/mountinfo") as f:
        assert not any(line.split()[4] == mountpoint for line in f)  # unmounted after the exit


def test_rm_v_keeps_named_and_removes_anonymous(hakod, docker_cli, cleanup):
    vol, name = _name("named"), _name("rmv")
    cleanup["volumes"].append(vol)
    cleanup["containers"].append(name)
    docker(hakod, docker_cli, "create", "--name", name, "-v", f"{vol}:/n", "-v", "/anon",
           "busybox", check=True)
    mounts = json.loads(out(docker(hakod, docker_cli, "inspect", "-f", "{{json .Mounts}}", name,
                                   check=True)))
    anon = next(m["Name"] for m in mounts if m["Destination"] == "/anon")
    docker(hakod, docker_cli, "rm", "-v", name, check=True)
    assert docker(hakod, docker_cli, "volume", "inspect", vol).returncode == 0
    assert docker(hakod, docker_cli, "volume", "inspect", anon).returncode == 1


def test_volume_survives_daemon_sigkill(fresh_hakod, docker_cli):
    from tests.daemon_harness import import_busybox

    d = fresh_hakod()
    d.start()
    import_busybox(d)
    docker(d, docker_cli, "run", "--name", "keeper", "-v", "survivor:/s", "busybox", "sh", "-c",
           "echo still > /s/f", check=True)
    d.kill9()
    d.start()
    res = docker(d, docker_cli, "volume", "rm", "survivor")
    assert res.returncode == 1 and "volume is in use" in res.stderr.decode()
    res = docker(d, docker_cli, "run", "--rm", "-v", "survivor:/s", "busybox", "cat", "/s/f",
                 check=True)
    assert out(res) == "still\n"
    docker(d, docker_cli, "rm", "keeper", check=True)
    docker(d, docker_cli, "volume", "rm", "survivor", check=True)


def test_commit_diff_export_exclude_volume_contents(hakod, docker_cli, cleanup):
    """The seed: changes to a data volume are not part of the next commit."""
    import io
    import tarfile

    vol, name, host = _name("excl"), _name("excl"), _host_dir(cleanup)
    cleanup["volumes"].append(vol)
    cleanup["containers"].append(name)
    docker(hakod, docker_cli, "run", "--name", name, "-v", f"{vol}:/named", "-v", "/anon",
           "-v", f"{host}:/bound", "busybox", "sh", "-c",
           "echo v > /named/in-volume && echo a > /anon/in-anon && echo b > /bound/in-bind && "
           "echo r > /in-rootfs", check=True)
    diff = out(docker(hakod, docker_cli, "diff", name, check=True))
    assert "A /in-rootfs" in diff
    assert "in-volume" not in diff and "in-anon" not in diff and "in-bind" not in diff
    exported = docker(hakod, docker_cli, "export", name, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
        names = tf.getnames()
    assert "in-rootfs" in names
    assert not [n for n in names if n.endswith(("in-volume", "in-anon", "in-bind"))]
    tag = _name("excl-img")
    docker(hakod, docker_cli, "commit", name, tag, check=True)
    try:
        res = docker(hakod, docker_cli, "run", "--rm", tag, "sh", "-c",
                     "cat /in-rootfs; ls /named /anon /bound 2>/dev/null | grep in- || true",
                     check=True)
        assert out(res) == "r\n"
    finally:
        docker(hakod, docker_cli, "rmi", "-f", tag)


def test_copy_up_happens_at_create(hakod, docker_cli, cleanup):
    """``docker create`` of a data container fills its volume from the image before any
    start: another container sees the content through --volumes-from, and so does cp."""
    ctx = _host_dir(cleanup)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nRUN mkdir /dbdata && echo seeded > /dbdata/f\nVOLUME /dbdata\n")
    tag = _name("created")
    docker(hakod, docker_cli, "build", "-q", "-t", tag, ctx, check=True)
    store = _name("dbstore")
    cleanup["containers"].append(store)
    try:
        docker(hakod, docker_cli, "create", "--name", store, tag, "true", check=True)
        res = docker(hakod, docker_cli, "run", "--rm", "--volumes-from", store, "busybox", "cat",
                     "/dbdata/f", check=True)
        assert out(res) == "seeded\n"
    finally:
        docker(hakod, docker_cli, "rm", "-f", "-v", store)
        docker(hakod, docker_cli, "rmi", "-f", tag)
