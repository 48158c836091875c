"""Containers without a mount namespace: hako-runtime against runc (the oracle).

runc runs them in its own mount namespace: it makes "/" rslave there, binds the rootfs and
makes the spec mounts on the host, and never undoes any of it. So runc runs here inside a
throwaway mount namespace (``unshare -m``) whose mounts die with it. hako-runtime runs in
the test's own mount namespace, which is the point: it must leave that namespace as it
found it (no propagation change, no mount left after delete).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def _mountinfo(rt) -> list[str]:
    """What a container could change in our mount table: the mounts below the rootfs, and
    "/" with its propagation (other tests mount elsewhere meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        fields = [line.split() for line in f]
    return sorted(" ".join(f[4:7]) for f in fields
                  if f[4] == "/" or f[4].startswith(rt.bundle + "/"))


def _no_mount_ns(rt, keep_mounts=("/proc",)) -> None:
    """No mount namespace; only the mounts at ``keep_mounts``; nothing that needs one."""
    if rt.name == "runc":
        rt.prefix = ["unshare", "--mount", "--propagation", "slave"]
    linux = rt.spec["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "mount"]
    linux.pop("maskedPaths", None)
    linux.pop("readonlyPaths", None)
    rt.spec["root"]["readonly"] = False
    rt.spec["mounts"] = [m for m in rt.spec["mounts"] if m["destination"] in keep_mounts]


def test_runs_chrooted_in_the_rootfs_with_its_mounts(rt):
    _no_mount_ns(rt)
    before = _mountinfo(rt)
    out = rt.run("sh", "-c", "ls /; test -d /proc/self/fd && echo proc-ok")
    assert out.returncode == 0, out.stderr
    assert "proc-ok" in out.stdout and "bin" in out.stdout.split(), out.stdout
    assert "boot" not in out.stdout.split(), "the process sees the host's /"
    if rt.name == "hako":
        assert _mountinfo(rt) == before, "hako-runtime changed the host's mount table"


def test_delete_leaves_the_mount_table_as_it_was(rt):
    _no_mount_ns(rt, keep_mounts=("/proc", "/dev"))
    before = _mountinfo(rt)
    cid = rt.create_started("sleep", "100")
    if rt.name == "hako":
        during = _mountinfo(rt)
        assert any(f"{rt.rootfs}/proc" in line for line in during), during
        assert any(f"{rt.rootfs}/dev " in line for line in during), during
    assert rt.cmd("delete", "--force", cid).returncode == 0
    assert _mountinfo(rt) == before


def test_exec_runs_in_the_containers_root(rt):
    _no_mount_ns(rt)
    cid = rt.create_started("sleep", "100")
    with open(f"{rt.rootfs}/marker", "w") as f:
        f.write("inside")
    out = rt.cmd("exec", cid, "cat", "/marker")
    if rt.name == "runc":  # runc 1.1 execs in the host's root: a known escape we don't copy
        assert out.returncode != 0
        return
    assert out.returncode == 0, out.stderr
    assert out.stdout == "inside"


@pytest.mark.parametrize("setting, message", [
    ({"maskedPaths": ["/proc/kcore"]}, "unable to restrict sys entries without a private MNT"),
    ({"readonlyPaths": ["/proc/sys"]}, "unable to restrict sys entries without a private MNT"),
])
def test_masked_and_readonly_paths_are_refused_as_runc_does(rt, setting, message):
    _no_mount_ns(rt)
    rt.spec["linux"].update(setting)
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert message in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1


# runc ignores root.readonly and applies rootfsPropagation to the host's "/" without a
# mount namespace; hako-runtime refuses both (fail closed, the host left alone)
@pytest.mark.parametrize("rt", ["hako"], indirect=True)
@pytest.mark.parametrize("change, message", [
    (lambda spec: spec["root"].update(readonly=True), "unable to make rootfs read-only"),
    (lambda spec: spec["linux"].update(rootfsPropagation="shared"),
     "unable to set rootfs propagation"),
])
def test_settings_that_would_change_the_host_are_refused(rt, change, message):
    _no_mount_ns(rt)
    change(rt.spec)
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert rt.cmd("state", cid).returncode == 1


def test_no_proc_in_the_container_fails_create(rt):
    _no_mount_ns(rt, keep_mounts=())
    rt.write_spec(args=["true"])
    cid = rt.new_id()
    before = _mountinfo(rt)
    out = rt.cmd("create", "--bundle", rt.bundle, cid)
    assert out.returncode == 1
    assert "/proc/self/fd: no such file or directory" in out.stderr, out.stderr
    assert rt.cmd("state", cid).returncode == 1
    assert _mountinfo(rt) == before
