"""Pure-logic tests of the runtime core: option parsing, paths, state machine, CLI flags."""

from __future__ import annotations

import os

import pytest

from hako.errors import Conflict, InvalidArgument
from hako.linux import mount as mnt
from hako.linux import mountinfo
from hako.runtime import cli, container, namespaces, validate
from hako.runtime.user import ExecError, look_path


@pytest.mark.parametrize("options,flags,props,data", [
    (["nosuid", "ro", "mode=755"], mnt.MS_NOSUID | mnt.MS_RDONLY, (), "mode=755"),
    (["ro", "rw"], 0, (), ""),
    (["rbind", "rprivate"], mnt.MS_BIND | mnt.MS_REC, (mnt.MS_PRIVATE | mnt.MS_REC,), ""),
    (["size=64k", "nodev", "noexec"], mnt.MS_NODEV | mnt.MS_NOEXEC, (), "size=64k"),
])
def test_parse_options(options, flags, props, data):
    parsed = mnt.parse_options(options)
    assert (parsed.flags, parsed.propagation, parsed.data) == (flags, props, data)


def test_mount_value_is_bind():
    assert mnt.Mount("bind", "/a", "/b").is_bind()
    assert mnt.Mount("none", "/a", "/b", ("rbind",)).is_bind()
    assert not mnt.Mount("tmpfs", "tmpfs", "/b", ("size=1m",)).is_bind()


def test_mountinfo_parse_line_with_optional_fields_and_escapes():
    line = "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=x"
    info = mountinfo.parse_line(line)
    assert info.mountpoint == "/mnt 2"
    assert info.optional == ("master:1", "shared:2")
    assert (info.fstype, info.source, info.super_options) == ("ext3", "/dev/root", "rw,errors=x")


def test_look_path(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    plain = tmp_path / "plain"
    plain.write_text("x")
    env = [f"PATH={bindir}"]
    assert look_path("tool", env) == str(exe)
    with pytest.raises(ExecError, match=r'exec: "nope": executable file not found in \$PATH'):
        look_path("nope", env)
    with pytest.raises(ExecError, match="permission denied"):
        look_path(str(plain), env)
    with pytest.raises(ExecError, match="no such file or directory"):
        look_path(str(tmp_path / "missing"), env)


@pytest.mark.parametrize("text,number", [("KILL", 9), ("SIGTERM", 15), ("9", 9), ("hup", 1)])
def test_parse_signal(text, number):
    assert validate.parse_signal(text) == number


def test_parse_signal_rejects_unknown():
    with pytest.raises(InvalidArgument, match='unknown signal "NOPE"'):
        validate.parse_signal("NOPE")


def test_parse_flags_stops_at_exec_args():
    values, rest = cli.parse_flags(["--tty", "--env", "A=1", "-e=B=2", "cid", "sh", "-c", "x"],
                                   cli.COMMANDS["exec"], stop_at_positional=True)
    assert values == {"tty": True, "env": ["A=1", "B=2"]}
    assert rest == ["cid", "sh", "-c", "x"]


def test_parse_flags_unknown_flag():
    with pytest.raises(InvalidArgument, match="flag provided but not defined: --nope"):
        cli.parse_flags(["--nope"], cli.COMMANDS["create"], stop_at_positional=False)


def test_systemd_cgroup_is_rejected(capsys):
    assert cli.main(["--systemd-cgroup", "list"]) == 1
    assert "--systemd-cgroup is not supported" in capsys.readouterr().err


def test_state_transitions_and_persistence(tmp_path):
    root = str(tmp_path)
    path = container.new_state_dir(root, "abc")
    c = container.Container("abc", path, "/b", "/b/rootfs", pid=os.getpid(),
                            created=container.rfc3339_nano(0))
    c.save()
    loaded = container.load(root, "abc")
    assert loaded.current_status() == container.Status.RUNNING  # alive, no fifo
    loaded.transition(container.Status.PAUSED)
    with pytest.raises(Conflict):
        loaded.transition(container.Status.PAUSED)
    state = loaded.oci_state()
    assert state["created"] == "1970-01-01T00:00:00Z"
    assert state["status"] == "paused" and state["owner"] == ""


def test_dead_pid_reads_as_stopped(tmp_path):
    c = container.Container("x", str(tmp_path), pid=os.getpid(), start_time=1)
    assert c.current_status() == container.Status.STOPPED  # start time mismatch: reused pid


@pytest.mark.parametrize("bad", ["", "..", "a/b", "a b"])
def test_invalid_ids(bad):
    with pytest.raises(InvalidArgument):
        container.validate_id(bad)


def test_namespaces_parse():
    ns = namespaces.parse([{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}])
    assert ns["network"].path == "/proc/1/ns/net" and not ns["pid"].path
    with pytest.raises(InvalidArgument):
        namespaces.parse([{"type": "pid"}, {"type": "pid"}])
    assert namespaces.parse([{"type": "user"}])["user"].kind == "user"
    with pytest.raises(InvalidArgument):
        namespaces.parse([{"type": "time"}])


@pytest.mark.parametrize("linux,text", [
    ({"namespaces": [{"type": "mount"}, {"type": "user"}]}, "no uid mappings"),
    ({"namespaces": [{"type": "mount"}, {"type": "user"}],
      "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}, "no gid mappings"),
    ({"namespaces": [{"type": "mount"}],
      "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}, "need to be enabled"),
    ({"namespaces": [{"type": "mount"}, {"type": "user"}],
      "uidMappings": [{"containerID": 0, "hostID": -1, "size": 1}],
      "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}, "invalid uid mapping"),
])
def test_id_mapping_rules(linux, text):
    spec = {"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "linux": linux}
    with pytest.raises(InvalidArgument, match=text):
        validate.validate_spec(spec, None)


def test_id_map_text():
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536},
            {"containerID": 65536, "hostID": 5, "size": 1}]
    assert validate.id_map_text(maps) == b"0 100000 65536\n65536 5 1\n"


def _spec(**linux):
    return {"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}], **linux}}


def test_validate_spec_rules():
    validate.validate_spec(_spec(), None)
    with pytest.raises(InvalidArgument, match="console socket"):
        validate.validate_spec(_spec(), "/tmp/sock")
    with pytest.raises(InvalidArgument, match="not allowed in the hosts network"):
        validate.validate_spec(_spec(sysctl={"net.ipv4.ip_forward": "1"}), None)
    bad = _spec()
    bad["process"]["args"] = []
    with pytest.raises(InvalidArgument, match="args must not be empty"):
        validate.validate_spec(bad, None)
