"""Namespaces joined by path, wrong namespace types, unknown capabilities and security
labels the host cannot apply: hako-runtime against runc (the oracle). Bad input is one
line on stderr and exit 1, never a traceback."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration


def _one_line_failure(out) -> None:
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) == 1, out.stderr


def test_uts_namespace_joined_by_path_keeps_the_other_hostname(rt):
    rt.spec["hostname"] = "first-one"
    first = rt.create_started("sleep", "100")
    pid = rt.state(first)["pid"]
    del rt.spec["hostname"]
    rt.spec["linux"]["namespaces"] = [
        dict(n, path=f"/proc/{pid}/ns/uts") if n["type"] == "uts" else n
        for n in rt.spec["linux"]["namespaces"]]
    out = rt.run("hostname")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "first-one"


def test_namespace_path_of_the_wrong_type_is_refused(rt):
    rt.spec["linux"]["namespaces"] = [
        dict(n, path="/proc/self/ns/net") if n["type"] == "pid" else n
        for n in rt.spec["linux"]["namespaces"]]
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    if rt.name == "runc":  # runc fails too, in several log lines of its own
        assert out.returncode == 1
    else:
        _one_line_failure(out)
        assert "not pid" in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1


# runc 1.1 only warns ("ignoring unknown or unavailable capabilities"); hako fails closed
@pytest.mark.parametrize("rt", ["hako"], indirect=True)
def test_unknown_capability_is_refused(rt):
    caps = rt.spec["process"]["capabilities"]
    caps["bounding"] = list(caps["bounding"]) + ["CAP_NOT_A_CAP"]
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    _one_line_failure(out)
    assert "CAP_NOT_A_CAP" in out.stderr


@pytest.mark.skipif(os.path.exists("/sys/kernel/security/apparmor"),
                    reason="the host has AppArmor: this case is about hosts without it")
def test_apparmor_profile_without_apparmor_is_refused(rt):
    rt.spec["process"]["apparmorProfile"] = "some-profile"
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    _one_line_failure(out)
    assert "apparmor" in out.stderr.lower()
    assert rt.cmd("state", cid).returncode == 1


def _chown_tree(path: str, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def _userns_spec(rt, base: int) -> None:
    _chown_tree(rt.rootfs, base, base)
    os.chmod(os.path.dirname(rt.bundle), 0o755)  # the mapped root must reach the rootfs
    rt.spec["linux"]["namespaces"] = list(rt.spec["linux"]["namespaces"]) + [{"type": "user"}]
    rt.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]
    rt.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]
    # no cgroup filesystem without a cgroup namespace of the user namespace's own
    rt.spec["mounts"] = [m for m in rt.spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]


def test_exec_joins_the_user_namespace(rt):
    _userns_spec(rt, 300000)
    cid = rt.create_started("sleep", "100")
    out = rt.cmd("exec", cid, "sh", "-c", "cat /proc/self/uid_map; id -u; readlink /proc/1/ns/user; "
                 "readlink /proc/self/ns/user")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0].split() == ["0", "300000", "65536"]
    assert lines[1] == "0"
    assert lines[2] == lines[3]


def test_user_namespace_with_mappings(rt):
    """The container sees its uid map, is root inside, and what it creates on a bind mount
    belongs to the mapped host ids."""
    import pathlib

    base = 200000
    _chown_tree(rt.rootfs, base, base)
    top = os.path.dirname(rt.bundle)
    os.chmod(top, 0o755)  # the mapped root must reach the rootfs and the bind source
    data = pathlib.Path(top) / "data"
    data.mkdir()
    os.chown(data, base, base)
    rt.spec["linux"]["namespaces"] = list(rt.spec["linux"]["namespaces"]) + [{"type": "user"}]
    rt.spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]
    rt.spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": base, "size": 65536}]
    # no cgroup filesystem without a cgroup namespace of the user namespace's own
    rt.spec["mounts"] = [m for m in rt.spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    for key in ("bounding", "effective", "permitted"):  # runc spec's set lacks CAP_CHOWN
        rt.spec["process"]["capabilities"][key] = \
            list(rt.spec["process"]["capabilities"][key]) + ["CAP_CHOWN"]
    rt.spec["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                              "options": ["rbind", "rw"]})
    out = rt.run("sh", "-c", "cat /proc/self/uid_map; id -u; touch /data/made; "
                             "mkdir /data/dir; chown 1000:1000 /data/dir")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0].split() == ["0", str(base), "65536"]
    assert lines[1] == "0"
    st = os.stat(data / "made")
    assert (st.st_uid, st.st_gid) == (base, base)
    st = os.stat(data / "dir")
    assert (st.st_uid, st.st_gid) == (base + 1000, base + 1000)


def test_user_namespace_without_mappings_is_refused(rt):
    rt.spec["linux"]["namespaces"] = list(rt.spec["linux"]["namespaces"]) + [{"type": "user"}]
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert "uid mappings" in out.stderr or "mapping" in out.stderr, out.stderr


# runc 1.1.5 (Debian's) predates idmapped mounts and ignores mounts[].uidMappings: no oracle,
# so these run on hako-runtime only and check what the kernel shows.
def _host_dir_owned_by_root(rt):
    import pathlib

    top = os.path.dirname(rt.bundle)
    os.chmod(top, 0o755)
    data = pathlib.Path(top) / "hostdata"
    data.mkdir()
    (data / "f").write_text("from the host\n")
    for p in (data, data / "f"):
        os.chown(p, 0, 0)
    return data


@pytest.mark.parametrize("rt", ["hako"], indirect=True)
def test_idmapped_bind_mount_without_user_namespace(rt):
    data = _host_dir_owned_by_root(rt)
    rt.spec["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                              "options": ["rbind", "ro"],
                              "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                              "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 1}]})
    out = rt.run("sh", "-c", "stat -c %u:%g /data/f; cat /data/f; touch /data/x 2>/dev/null || echo ro")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["1000:2000", "from the host", "ro"]
    assert os.stat(data / "f").st_uid == 0  # the files themselves are untouched


@pytest.mark.parametrize("rt", ["hako"], indirect=True)
def test_idmapped_bind_mount_in_a_user_namespace(rt):
    """With the container's own mapping on the mount, a host directory owned by root is the
    container root's: readable and writable as such, and what it writes is root's on the host
    (without the idmap it would be nobody's inside and base's on the host)."""
    base = 400000
    _userns_spec(rt, base)
    data = _host_dir_owned_by_root(rt)
    mapping = [{"containerID": 0, "hostID": base, "size": 65536}]
    rt.spec["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                              "options": ["rbind", "rw"], "uidMappings": mapping, "gidMappings": mapping})
    out = rt.run("sh", "-c", "stat -c %u:%g /data/f; id -u; echo made > /data/new")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["0:0", "0"]
    st = os.stat(data / "new")
    assert (st.st_uid, st.st_gid) == (0, 0)


@pytest.mark.parametrize("rt", ["hako"], indirect=True)
@pytest.mark.parametrize("mount,named", [
    ({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
      "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
      "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}, "only supported on bind mounts"),
    ({"destination": "/t", "type": "bind", "source": "/tmp", "options": ["rbind"],
      "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}, "needs both uidMappings and gidMappings"),
    ({"destination": "/t", "type": "bind", "source": "/tmp", "options": ["rbind"],
      "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}],
      "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}, "invalid uid mapping"),
])
def test_bad_idmapped_mounts_are_refused(rt, mount, named):
    rt.spec["mounts"].append(mount)
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    _one_line_failure(out)
    assert named in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1
