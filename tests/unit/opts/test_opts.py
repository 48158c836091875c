"""Pure parsers of hako.opts: ports, mounts, env, filters, restart, resources."""

import pytest

from hako.errors import InvalidArgument
from hako.opts import env, filters, mounts, ports, resources, restart
from hako.opts.ports import PortBinding


@pytest.mark.parametrize("spec,want", [
    ("80", [PortBinding(80)]),
    ("8080:80", [PortBinding(80, "tcp", "", "8080")]),
    ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", "8080")]),
    ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1", "")]),
    ("[::1]:80:80", [PortBinding(80, "tcp", "::1", "80")]),
    ("8000-8001:80-81", [PortBinding(80, "tcp", "", "8000"), PortBinding(81, "tcp", "", "8001")]),
    ("8000-8010:80", [PortBinding(80, "tcp", "", "8000-8010")]),
])
def test_publish(spec, want):
    assert ports.parse_publish(spec) == want


@pytest.mark.parametrize("spec,msg", [
    ("80/xyz", "invalid proto: xyz"), ("abc", "invalid containerPort: abc"),
    ("8000-8002:80-81", "invalid ranges specified"), ("x:80", "invalid hostPort: x"),
])
def test_publish_errors(spec, msg):
    with pytest.raises(InvalidArgument, match=msg):
        ports.parse_publish(spec)


def test_port_map_and_expose():
    assert ports.to_port_map(ports.parse_publish("8080:80")) == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert ports.parse_expose("8000-8001/udp") == ["8000/udp", "8001/udp"]


@pytest.mark.parametrize("spec,kind,source,target,ro", [
    ("/data", "volume", "", "/data", False),
    ("/src:/dst", "bind", "/src", "/dst", False),
    ("/src:/dst:ro", "bind", "/src", "/dst", True),
    ("named:/dst:rw", "volume", "named", "/dst", False),
])
def test_volume(spec, kind, source, target, ro):
    m = mounts.parse_volume(spec)
    assert (m.type, m.source, m.target, m.read_only) == (kind, source, target, ro)


@pytest.mark.parametrize("spec", ["", "a:b:c:d", "/a:rel", "/a:/b:xx"])
def test_volume_errors(spec):
    with pytest.raises(InvalidArgument):
        mounts.parse_volume(spec)


def test_mount_and_tmpfs():
    m = mounts.parse_mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rshared")
    assert (m.type, m.source, m.target, m.read_only, m.propagation) == (
        "bind", "/a", "/b", True, "rshared")
    with pytest.raises(InvalidArgument, match="target is required"):
        mounts.parse_mount("type=volume,source=x")
    assert mounts.parse_tmpfs("/run:size=1m") == ("/run", "size=1m")


def test_env(tmp_path):
    f = tmp_path / "env"
    f.write_text("# comment\n\nA=1\n  B=two words\nFROM_HOST\nMISSING\n")
    assert env.read_env_file(str(f), {"FROM_HOST": "h"}) == ["A=1", "B=two words", "FROM_HOST=h"]
    assert env.parse_env_arg("X", {}) is None
    assert env.parse_env_arg("X", {"X": "1"}) == "X=1"
    with pytest.raises(InvalidArgument, match="contains whitespaces"):
        env.parse_env_file_text("A B=1", {})
    assert env.to_mapping(["A=1", "B", "A=2"]) == {"A": "2"}


def test_filters():
    parsed = filters.parse_flags(["name=a", "name=b", "label=x=y"])
    assert parsed == {"name": {"a", "b"}, "label": {"x=y"}}
    assert filters.to_wire(parsed) == {"name": ["a", "b"], "label": ["x=y"]}
    assert filters.parse_json('{"status": {"running": true}}') == {"status": {"running"}}
    assert filters.parse_json('{"status": ["exited"]}') == {"status": {"exited"}}
    with pytest.raises(InvalidArgument, match="bad format of filter"):
        filters.parse_flags(["oops"])
    assert filters.match_labels(["a", "b=2"], {"a": "1", "b": "2"})
    assert not filters.match_labels(["b=3"], {"b": "2"})
    with pytest.raises(InvalidArgument, match="invalid filter 'x'"):
        filters.validate_keys({"x": set()}, ["name"])


@pytest.mark.parametrize("text,name,count", [
    ("no", "no", 0), ("always", "always", 0), ("on-failure:3", "on-failure", 3), ("", "no", 0),
])
def test_restart(text, name, count):
    p = restart.parse(text)
    assert (p.name, p.maximum_retry_count) == (name, count)
    restart.validate(p)


def test_restart_errors():
    with pytest.raises(InvalidArgument, match="maximum retry count must be an integer"):
        restart.parse("on-failure:x")
    with pytest.raises(InvalidArgument, match="unknown policy 'sometimes'"):
        restart.validate(restart.parse("sometimes"))
    with pytest.raises(InvalidArgument, match="only be used with 'on-failure'"):
        restart.validate(restart.parse("always:3"))


def test_resources():
    assert resources.parse_memory("512m") == 512 * 1024**2
    assert resources.parse_memory_swap("-1") == -1
    assert resources.parse_cpus("0.5") == 500_000_000
    with pytest.raises(InvalidArgument, match="rational number"):
        resources.parse_cpus("abc")
    assert resources.parse_ulimit("nofile=1024") == resources.Ulimit("nofile", 1024, 1024)
    with pytest.raises(InvalidArgument, match="invalid ulimit type"):
        resources.parse_ulimit("bogus=1")
    with pytest.raises(InvalidArgument, match="soft limit must be less"):
        resources.parse_ulimit("nofile=20:10")
    assert resources.parse_cpuset("0-2,4") == [0, 1, 2, 4]


def test_parse_mount_volume_keys_and_unknown_key():
    m = mounts.parse_mount("type=volume,src=v,dst=/d,volume-nocopy,volume-label=a=b,"
                           "volume-driver=local,volume-opt=type=tmpfs")
    assert m.extra == {"volume-nocopy": "true", "volume-label": {"a": "b"},
                       "volume-driver": "local", "volume-opt": {"type": "tmpfs"}}
    with pytest.raises(InvalidArgument, match="unexpected key 'bogus' in 'bogus=1'"):
        mounts.parse_mount("type=volume,dst=/d,bogus=1")
