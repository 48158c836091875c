"""systemd mode's pure rules: Podman's --systemd decision, the create-time changes, the
cgroup mounts per layout, /run/.containerenv, RTMIN+n stop signals, debootstrap --include."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest

from hako.daemon import systemd_mode as sd
from hako.daemon.containers import parse_signal
from hako.errors import InvalidArgument


def conf(cmd, label=None, entrypoint=None):
    return {"Cmd": cmd, "Entrypoint": entrypoint,
            "Labels": {sd.LABEL: label} if label is not None else {}}


@pytest.mark.parametrize("cmd,label,on", [
    (["/sbin/init"], None, True), (["/usr/sbin/init"], None, True),
    (["/usr/lib/systemd/systemd", "--log-level=debug"], None, True),
    (["systemd"], "true", True), (["sh"], None, False), (["/bin/init-not"], None, False),
    (["sh"], "always", True), (["/sbin/init"], "false", False), (["/sbin/init"], "FALSE", False),
])
def test_podmans_decision(cmd, label, on):
    assert sd.enabled(conf(cmd, label)) is on


def test_entrypoint_counts_as_the_command():
    assert sd.enabled(conf(["--system"], entrypoint=["/lib/systemd/systemd"]))
    assert not sd.enabled(conf(["/sbin/init"], entrypoint=["/bin/sh", "-c"]))


def test_bad_label_value_names_the_label():
    with pytest.raises(InvalidArgument, match=r'invalid value "maybe" for label io.hako.systemd'):
        sd.enabled(conf(["sh"], "maybe"))


def test_apply_create_sets_stop_signal_env_and_cgroupns():
    c, hc = conf(["/sbin/init"]), {"CgroupnsMode": "host"}
    c["Env"] = ["PATH=/bin"]
    sd.apply_create(c, hc)
    assert c["StopSignal"] == "SIGRTMIN+3" and c["Env"] == ["PATH=/bin", "container=hako"]
    assert hc["CgroupnsMode"] == "private"
    kept = dict(conf(["/sbin/init"]), StopSignal="SIGTERM", Env=["container=docker"])
    sd.apply_create(kept, {})
    assert kept["StopSignal"] == "SIGTERM" and kept["Env"] == ["container=docker"]
    off, hc_off = conf(["sh"]), {}
    sd.apply_create(off, hc_off)
    assert "StopSignal" not in off and hc_off == {}


def test_v1_binds_the_containers_name_systemd_dir_rw_and_hides_unified(monkeypatch):
    monkeypatch.setattr("hako.runtime.cgroups.detect.is_v2", lambda root: False)
    monkeypatch.setattr(sd, "_hierarchies", lambda root: (
        "/sys/fs/cgroup/systemd", ["/sys/fs/cgroup/unified"]))
    bind, hide = sd.cgroup_mounts("/hako/abc")
    assert bind["destination"] == "/sys/fs/cgroup/systemd"
    assert bind["source"] == "/sys/fs/cgroup/systemd/hako/abc" and "rw" in bind["options"]
    assert hide["destination"] == "/sys/fs/cgroup/unified" and hide["type"] == "tmpfs"


def test_v1_without_name_systemd_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("hako.runtime.cgroups.detect.is_v2", lambda root: False)
    monkeypatch.setattr(sd, "_hierarchies", lambda root: (None, []))
    with pytest.raises(InvalidArgument, match="name=systemd"):
        sd.cgroup_mounts("/hako/abc")


def test_v2_mounts_the_namespace_root_rw(monkeypatch):
    monkeypatch.setattr("hako.runtime.cgroups.detect.is_v2", lambda root: True)
    (m,) = sd.cgroup_mounts("/hako/abc")
    assert (m["destination"], m["type"], m["options"][0]) == ("/sys/fs/cgroup", "cgroup", "rw")


def test_containerenv_is_podmans_format_quoted():
    c = SimpleNamespace(name="/web", id="f" * 64, image="sha256:1",
                        config={"Image": 'deb"ian'})
    text = sd.containerenv(c, "0.1.0").decode()
    assert text.splitlines() == ['engine="hako-0.1.0"', 'name="web"', f'id="{"f" * 64}"',
                                 'image="deb\\"ian"', 'imageid="sha256:1"', "rootless=0"]


@pytest.mark.parametrize("text,num", [
    ("SIGRTMIN+3", signal.SIGRTMIN + 3), ("RTMIN+3", signal.SIGRTMIN + 3),
    ("SIGRTMIN", signal.SIGRTMIN), ("RTMAX-1", signal.SIGRTMAX - 1)])
def test_realtime_stop_signals(text, num):
    assert parse_signal(text) == num


def test_realtime_signal_out_of_range():
    with pytest.raises(InvalidArgument, match="Invalid signal: RTMIN\\+99"):
        parse_signal("RTMIN+99")


def test_debootstrap_include():
    from hako.cli.bootstrap import debootstrap_argv
    from hako.cli.main import CliError

    assert debootstrap_argv("bookworm", "/r", "http://m", "systemd, systemd-sysv") == [
        "debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv", "bookworm", "/r",
        "http://m"]
    assert "--include" not in " ".join(debootstrap_argv("bookworm", "/r", "http://m"))
    with pytest.raises(CliError, match="invalid package name"):
        debootstrap_argv("bookworm", "/r", "http://m", "--foreign")
