"""Rootless hakod's pure logic: maps from subuid/subgid, defaults, refused limits, info,
the slirp4netns API client, the no-cgroup manager and the id-map writer's choice."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest

from hako.daemon import config as configmod, rootless
from hako.errors import Internal, InvalidArgument, Unsupported


def _etc(tmp_path, subuid: str, subgid: str) -> str:
    (tmp_path / "subuid").write_text(subuid)
    (tmp_path / "subgid").write_text(subgid)
    return str(tmp_path)


def test_subordinate_maps_put_the_user_at_root_then_its_ranges(tmp_path, monkeypatch):
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    etc = _etc(tmp_path, f"other:1:5\n{me}:200000:65536\n{os.getuid()}:400000:10\n",
               f"{me}:300000:65536\n")
    uids, gids = rootless.subordinate_maps(etc)
    assert uids == ((0, os.getuid(), 1), (1, 200000, 65536), (65537, 400000, 10))
    assert gids == ((0, os.getgid(), 1), (1, 300000, 65536))


def test_no_subuid_range_names_the_file(tmp_path):
    etc = _etc(tmp_path, "someone-else:100000:65536\n", "")
    with pytest.raises(InvalidArgument, match=r'no subordinate ids for user ".*" in .*/subuid'):
        rootless.subordinate_maps(etc)


def test_defaults_follow_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    d = rootless.defaults()
    assert d == {"data_root": f"{tmp_path}/.local/share/hako", "exec_root": "/run/user/1234/hako",
                 "hosts": ("unix:///run/user/1234/hako.sock",)}
    monkeypatch.setenv("XDG_DATA_HOME", "/data")
    assert rootless.defaults()["data_root"] == "/data/hako"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    with pytest.raises(InvalidArgument, match="XDG_RUNTIME_DIR"):
        rootless.defaults()
    assert rootless.defaults(("exec_root", "hosts")) == {"data_root": "/data/hako"}


def test_config_load_rootless_defaults_yield_to_flags(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    cfg = configmod.load({"exec_root": "/elsewhere"}, None, rootless=True)
    assert cfg.rootless and cfg.exec_root == "/elsewhere"
    assert cfg.data_root == f"{tmp_path}/.local/share/hako"
    assert cfg.hosts == (f"unix://{tmp_path}/run/hako.sock",)
    assert cfg.network_config().port_forwarder == "/elsewhere/slirp4netns.sock"
    (tmp_path / ".config" / "hako").mkdir(parents=True)
    (tmp_path / ".config" / "hako" / "daemon.json").write_text('{"debug": true}')
    assert configmod.load({}, None, rootless=True).debug  # ~/.config/hako/daemon.json
    with pytest.raises(InvalidArgument, match="userns-remap"):
        configmod.load({"userns_remap": "default"}, None, rootless=True)
    assert not configmod.load({}, "", rootless=False).rootless


@pytest.mark.parametrize("field, value, flag", [
    ("Memory", 64 << 20, "--memory"), ("NanoCpus", 500000000, "--cpus"),
    ("CpusetCpus", "0", "--cpuset-cpus"), ("PidsLimit", 10, "--pids-limit"),
    ("MemorySwap", 128 << 20, "--memory-swap"), ("CgroupParent", "/x", "--cgroup-parent"),
])
def test_limits_are_refused_without_cgroups(field, value, flag):
    cfg = configmod.DaemonConfig(rootless=True)
    with pytest.raises(InvalidArgument, match=rf"no cgroups.*HostConfig\.{field} \({flag}\)"):
        rootless.check_resources(cfg, {field: value})


def test_defaults_of_a_host_config_are_not_limits():
    cfg = configmod.DaemonConfig(rootless=True)
    rootless.check_resources(cfg, {"Memory": 0, "MemorySwap": -1, "PidsLimit": None,
                                   "CpusetCpus": "", "BlkioWeightDevice": []})
    rootless.check_resources(configmod.DaemonConfig(), {"Memory": 64 << 20})  # rootful: cgroups


def test_info_says_rootless_and_no_cgroup_driver():
    cfg = configmod.DaemonConfig(rootless=True)
    assert rootless.info_options(cfg) == ["name=rootless"]
    assert rootless.info_fields(cfg)["CgroupDriver"] == "none"
    assert rootless.info_fields(cfg)["MemoryLimit"] is False
    assert rootless.info_fields(configmod.DaemonConfig()) == {}
    assert rootless.info_options(configmod.DaemonConfig()) == []


class _FakeSlirp:
    """A unix socket answering slirp4netns-style JSON requests, one per connection."""

    def __init__(self, path: str, answers: list[dict]) -> None:
        self.requests: list[dict] = []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen()
        self.answers = answers
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.answers:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                self.requests.append(json.loads(data))
                conn.sendall(json.dumps(answer).encode())


def test_slirp_client_adds_and_removes_forwards(tmp_path):
    from hako.network import slirp

    api = str(tmp_path / "api.sock")
    fake = _FakeSlirp(api, [{"return": {"id": 7}}, {"return": {}}])
    assert slirp.add(api, "127.0.0.1", 8080, "tcp", "ep") == 7
    slirp.remove(api, 7)
    fake.thread.join(5)
    assert fake.requests == [
        {"execute": "add_hostfwd", "arguments": {"proto": "tcp", "host_addr": "127.0.0.1",
                                                 "host_port": 8080, "guest_addr": "10.0.2.100",
                                                 "guest_port": 8080}},
        {"execute": "remove_hostfwd", "arguments": {"id": 7}}]


def test_slirp_client_reports_a_refused_forward(tmp_path):
    from hako.network import slirp

    api = str(tmp_path / "api.sock")
    _FakeSlirp(api, [{"error": {"desc": "bad request: add_hostfwd: slirp_add_hostfwd failed"}}])
    with pytest.raises(Internal, match=r"endpoint ep: Bind for 127.0.0.1:80 failed on the host.*"
                                       r"slirp_add_hostfwd failed"):
        slirp.add(api, "127.0.0.1", 80, "tcp", "ep")
    with pytest.raises(Internal, match="slirp4netns API"):
        slirp.add(str(tmp_path / "missing.sock"), "127.0.0.1", 80, "tcp", "ep")


def test_no_cgroup_manager_refuses_limits_pause_and_stats():
    from hako.runtime.cgroups.none import NoCgroupManager

    mgr = NoCgroupManager("/hako/x")
    mgr.apply(1)
    mgr.set({"devices": [{"allow": False, "access": "rwm"}], "memory": {"limit": None},
             "pids": {"limit": 0}})  # defaults only: nothing to apply
    with pytest.raises(Unsupported, match="memory"):
        mgr.set({"memory": {"limit": 1 << 26}})
    with pytest.raises(Unsupported, match="freeze"):
        mgr.freeze()
    with pytest.raises(Unsupported):
        mgr.stats()
    assert mgr.pids() == [] and mgr.path == "/hako/x"
    mgr.destroy()


def test_id_maps_go_through_the_helpers_unless_privileged(monkeypatch):
    from hako.linux import idmaps

    calls = []
    monkeypatch.setattr(idmaps, "privileged", lambda: False)
    monkeypatch.setattr(idmaps, "helper", lambda tool, pid, maps: calls.append((tool, pid, maps)))
    uids, gids = ((0, 1000, 1), (1, 100000, 65536)), ((0, 1000, 1), (1, 100000, 65536))
    idmaps.write(42, uids, gids)
    assert calls == [("newuidmap", 42, uids), ("newgidmap", 42, gids)]


def test_missing_helper_names_the_package(monkeypatch):
    import shutil

    from hako.linux import idmaps

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(idmaps.os.path, "exists", lambda path: False)
    with pytest.raises(InvalidArgument, match="newuidmap not found: install the uidmap package"):
        idmaps.helper("newuidmap", 1, ((0, 1, 1),))


def test_overlay_in_a_user_namespace_uses_userxattr_and_fuse_keeps_the_paths(monkeypatch):
    from hako.store import mount as smount

    seen = []
    monkeypatch.setattr(smount, "_in_userns", lambda: True)
    monkeypatch.setattr(smount._linux.Mount, "mount", lambda self, dest: seen.append(self.options))
    m = smount.Mount("overlay", "overlay", "", ("index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b"))
    m.mount("/t")
    assert seen == [("index=off", "workdir=/w", "upperdir=/u", "lowerdir=/a:/b", "userxattr")]
    runs = []

    class Done:
        returncode, stderr = 0, ""
    monkeypatch.setattr(smount.subprocess, "run", lambda argv, **kw: runs.append(argv) or Done())
    smount.use_fuse_overlayfs("/usr/bin/fuse-overlayfs")
    try:
        m.mount("/t")
    finally:
        smount.use_fuse_overlayfs("")
    assert runs == [["/usr/bin/fuse-overlayfs", "-o", "workdir=/w,upperdir=/u,lowerdir=/a:/b", "/t"]]


def _fake_v2(tmp_path, own: str, writable: set[str]):
    root = tmp_path / "cg"
    (root / own.strip("/")).mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    for name in ("cgroup.procs", "cgroup.subtree_control"):
        (root / own.strip("/") / name).write_text("")
    proc = tmp_path / "cgroup"
    proc.write_text(f"0::{own}\n")

    def access(path, mode, _real=os.access):
        return any(str(path).startswith(str(root / w.strip("/"))) for w in writable)
    return str(root), str(proc), access


def test_delegated_cgroup_is_our_own_v2_cgroup_when_writable(tmp_path, monkeypatch):
    own = "/user.slice/user-1000.slice/user@1000.service/app.slice/hako.service"
    root, proc, access = _fake_v2(tmp_path, own, {own})
    monkeypatch.setattr(os, "access", access)
    assert rootless.delegated_cgroup(root, proc) == own
    root, proc, access = _fake_v2(tmp_path / "b", own, set())  # nothing delegated
    monkeypatch.setattr(os, "access", access)
    assert rootless.delegated_cgroup(root, proc) == ""
    assert rootless.delegated_cgroup(str(tmp_path / "v1-has-no-controllers-file"), proc) == ""


def test_adopt_cgroup_moves_our_processes_into_a_leaf(tmp_path):
    own = "/u/hako.service"
    root, _, _ = _fake_v2(tmp_path, own, set())
    (tmp_path / "cg" / "u" / "hako.service" / "cgroup.procs").write_text("10\n11\n")
    rootless.adopt_cgroup(own, root)
    assert (tmp_path / "cg" / "u" / "hako.service" / "daemon" / "cgroup.procs").read_text() == "10\n11\n"


def test_runtime_uses_cgroups_only_where_a_subtree_is_delegated(tmp_path, monkeypatch):
    from hako.linux import idmaps
    from hako.runtime.cgroups import none
    from hako.runtime.cgroups.detect import new_manager

    own = "/u/hako.service"
    root, _, access = _fake_v2(tmp_path, own, {own})
    monkeypatch.setattr(idmaps, "privileged", lambda: False)
    monkeypatch.setattr(os, "access", access)
    assert not none.unavailable(root, own + "/containers/abc")
    assert none.unavailable(root, "/hako/abc")  # the root is not ours
    assert isinstance(new_manager("/hako/abc", "abc", root=root), none.NoCgroupManager)
    assert not isinstance(new_manager(own + "/containers/abc", "abc", root=root), none.NoCgroupManager)
    monkeypatch.setattr(idmaps, "privileged", lambda: True)
    assert not none.unavailable(root, "/hako/abc")


def test_a_delegated_cgroup_lifts_the_refusals():
    cfg = configmod.DaemonConfig(rootless=True, cgroup_delegated=True)
    rootless.check_resources(cfg, {"Memory": 64 << 20})
    assert rootless.info_fields(cfg) == {}
    assert rootless.info_options(cfg) == ["name=rootless"]
