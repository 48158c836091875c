"""Unit tests of the daemon's pure policy: create merge rules, validation, listing, wire text,
detach keys, config loading, routing."""

from __future__ import annotations

import json

import pytest

from hako.daemon import config as configmod
from hako.daemon import create, listing
from hako.daemon.api import wire
from hako.daemon.api.errors import status_for
from hako.daemon.api.router import Router
from hako.daemon.attach import parse_detach_keys
from hako.daemon.containers import parse_signal
from hako.daemon.state import Container, State, Status, validate_name
from hako.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, NotModified

IMG = {"Env": ["PATH=/bin", "A=img"], "Cmd": ["sh"], "Entrypoint": None, "WorkingDir": "/w",
       "Labels": {"l": "img"}, "User": "nobody", "StopSignal": "SIGQUIT"}


# The seed's CMD/ENTRYPOINT table, as the daemon's merge applies it to `docker run` arguments.
@pytest.mark.parametrize("img,user,expected", [
    ({"Cmd": ["sh"]}, {}, ("sh", [])),
    ({"Cmd": ["sh"]}, {"Cmd": ["echo", "x"]}, ("echo", ["x"])),
    ({"Entrypoint": ["/e"], "Cmd": ["a"]}, {}, ("/e", ["a"])),
    ({"Entrypoint": ["/e"], "Cmd": ["a"]}, {"Cmd": ["b"]}, ("/e", ["b"])),
    ({"Entrypoint": ["/e"], "Cmd": ["a"]}, {"Entrypoint": ["/f"]}, ("/f", [])),
    ({"Entrypoint": ["/e"], "Cmd": ["a"]}, {"Entrypoint": ["/f"], "Cmd": ["c"]}, ("/f", ["c"])),
    ({"Entrypoint": ["/e"]}, {"Entrypoint": [""], "Cmd": ["ls"]}, ("ls", [])),
])
def test_cmd_entrypoint_merge(img, user, expected):
    conf = create.merge_config(user, img)
    assert create.entrypoint_and_args(conf) == expected


def test_merge_env_labels_defaults():
    conf = create.merge_config({"Env": ["A=user"], "Labels": {"u": "1"}}, IMG)
    assert conf["Env"] == ["A=user", "PATH=/bin"]
    assert conf["Labels"] == {"l": "img", "u": "1"}
    assert conf["WorkingDir"] == "/w" and conf["User"] == "nobody" and conf["StopSignal"] == "SIGQUIT"


def test_no_command():
    with pytest.raises(InvalidArgument, match="No command specified"):
        create.merge_config({}, {})


@pytest.mark.parametrize("hc,message", [
    ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
    ({"MemorySwap": 10 << 20}, "You should always set the Memory limit when using Memoryswap limit"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "Minimum memoryswap limit should be larger"),
    ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy"),
    ({"RestartPolicy": {"Name": "always"}, "AutoRemove": True}, "can't create 'AutoRemove'"),
    ({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "AutoRemove": True},
     "can't create 'AutoRemove'"),
    ({"OomScoreAdj": 5000}, "range for oom score adj is [-1000, 1000]"),
])
def test_host_config_validation(hc, message):
    with pytest.raises(InvalidArgument) as err:
        create.validate_host_config(hc)
    assert message in str(err.value)


def test_host_config_defaults_shape():
    hc = create.default_host_config({})
    assert hc["NetworkMode"] == "default"
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["ShmSize"] == 64 * 1024 * 1024


@pytest.mark.parametrize("name,ok", [("web", True), ("/web", True), ("a", False), ("bad name", False),
                                     ("-x", False), ("a.b_c-d", True)])
def test_container_names(name, ok):
    if ok:
        assert validate_name(name) == name.lstrip("/")
    else:
        with pytest.raises(InvalidArgument, match="Invalid container name"):
            validate_name(name)


def _container(cid="a" * 64, status=Status.RUNNING, **kw) -> Container:
    st = State(status=status, started_at="2026-01-01T00:00:00.000000000Z",
               finished_at=kw.pop("finished_at", "0001-01-01T00:00:00Z"), exit_code=kw.pop("code", 0))
    return Container(id=cid, name=kw.pop("name", "c1"), created=kw.pop("created", "2026-01-01T00:00:00Z"),
                     image="sha256:" + "b" * 64, image_ref="busybox", path="sh", args=[],
                     config={"Labels": kw.pop("labels", {})}, host_config={}, root="/nonexistent", state=st)


def test_state_machine_rejects_illegal_moves():
    c = _container(status=Status.CREATED)
    with pytest.raises(Conflict):
        c.transition(Status.PAUSED)
    c.transition(Status.RUNNING)
    c.transition(Status.PAUSED)
    assert c.state.status == Status.PAUSED


def test_status_text():
    t0 = wire.parse_time("2026-01-01T00:00:00.000000000Z")
    c = _container()
    assert wire.status_text(c, now=t0 + 3) == "Up 3 seconds"
    c.state.status = Status.PAUSED
    assert wire.status_text(c, now=t0 + 120) == "Up 2 minutes (Paused)"
    c = _container(status=Status.EXITED, code=3, finished_at="2026-01-01T00:00:00Z")
    assert wire.status_text(c, now=t0 + 3600) == "Exited (3) About an hour ago"
    assert wire.status_text(_container(status=Status.CREATED)) == "Created"


def test_listing_filters():
    a = _container("a" * 64, name="web", labels={"tier": "front"})
    b = _container("b" * 64, status=Status.EXITED, name="db", code=1, created="2026-01-02T00:00:00Z")
    items = [b, a]
    same = lambda c, ref: ref == "busybox"  # noqa: E731
    assert listing.select(items, {}, False, 0, None, same) == [a]
    assert listing.select(items, {}, True, 0, None, same) == [b, a]
    assert listing.select(items, {"status": ["exited"]}, False, 0, None, same) == [b]
    assert listing.select(items, {"exited": ["1"]}, False, 0, None, same) == [b]
    assert listing.select(items, {"label": ["tier=front"]}, True, 0, None, same) == [a]
    assert listing.select(items, {"name": ["we"]}, True, 0, None, same) == [a]
    assert listing.select(items, {}, False, 1, None, same) == [b]
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        listing.select(items, {"colour": ["red"]}, True, 0, None, same)


def test_detach_keys():
    assert parse_detach_keys(None) == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    with pytest.raises(InvalidArgument, match="Invalid detach keys"):
        parse_detach_keys("ctrl-ab")


@pytest.mark.parametrize("value,num", [("KILL", 9), ("SIGTERM", 15), ("9", 9), (None, 9), ("hup", 1)])
def test_parse_signal(value, num):
    assert parse_signal(value) == num


def test_parse_signal_rejects():
    with pytest.raises(InvalidArgument, match="Invalid signal: FOO"):
        parse_signal("FOO")


def test_error_status_mapping():
    assert status_for(NotFound("x")) == 404
    assert status_for(AlreadyExists("x")) == 409
    assert status_for(InvalidArgument("x")) == 400
    assert status_for(NotModified("x")) == 304
    assert status_for(RuntimeError("x")) == 500


def test_router_greedy_and_segments():
    r = Router()

    async def h(req):
        return None

    r.add("GET", "/images/{name:.+}/json", h)
    r.add("GET", "/containers/{id}/json", h)
    _, params = r.match("GET", "/images/localhost:5000/a/b:1/json")
    assert params == {"name": "localhost:5000/a/b:1"}
    assert r.match("GET", "/containers/a/b/json") is None
    assert r.match("HEAD", "/containers/x/json")[1] == {"id": "x"}


def test_config_file_and_flag_clash(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"data-root": "/x", "runtimes": {"crun2": {"path": "/bin/crun"}}}))
    cfg = configmod.load({"exec_root": "/run/y"}, str(path))
    assert cfg.data_root == "/x" and cfg.exec_root == "/run/y" and cfg.runtimes == {"crun2": "/bin/crun"}
    with pytest.raises(InvalidArgument, match="both as a flag and in the configuration file: data-root"):
        configmod.load({"data_root": "/z"}, str(path))
    path.write_text(json.dumps({"colour": "red"}))
    with pytest.raises(InvalidArgument, match="don't match any configuration option: colour"):
        configmod.load({}, str(path))
    with pytest.raises(InvalidArgument, match="unknown or invalid runtime name: nope"):
        cfg.runtime_path("nope")


# Wrongly typed create fields are Docker's decoder errors (400), not exceptions (500).
@pytest.mark.parametrize("body,field", [
    ({"Image": 5}, "ContainerCreateRequest.Image"),
    ({"Image": "b", "Labels": ["a"]}, "ContainerCreateRequest.Labels"),
    ({"Image": "b", "Labels": {"a": 1}}, "ContainerCreateRequest.Labels"),
    ({"Image": "b", "Env": "A=b"}, "ContainerCreateRequest.Env"),
    ({"Image": "b", "Tty": "yes"}, "ContainerCreateRequest.Tty"),
    ({"Image": "b", "User": 5}, "ContainerCreateRequest.User"),
    ({"Image": "b", "StopTimeout": "x"}, "ContainerCreateRequest.StopTimeout"),
    ({"Image": "b", "ExposedPorts": ["80"]}, "ContainerCreateRequest.ExposedPorts"),
    ({"Image": "b", "HostConfig": []}, "ContainerCreateRequest.HostConfig"),
    ({"Image": "b", "HostConfig": {"RestartPolicy": "always"}}, "HostConfig.HostConfig.RestartPolicy"),
    ({"Image": "b", "HostConfig": {"RestartPolicy": {"Name": 1}}}, "HostConfig.RestartPolicy.Name"),
    ({"Image": "b", "HostConfig": {"Binds": "x"}}, "HostConfig.HostConfig.Binds"),
    ({"Image": "b", "HostConfig": {"PortBindings": "x"}}, "HostConfig.HostConfig.PortBindings"),
    ({"Image": "b", "HostConfig": {"Tmpfs": ["/x"]}}, "HostConfig.HostConfig.Tmpfs"),
    ({"Image": "b", "HostConfig": {"Sysctls": ["a"]}}, "HostConfig.HostConfig.Sysctls"),
    ({"Image": "b", "HostConfig": {"ExtraHosts": "a:1.2.3.4"}}, "HostConfig.HostConfig.ExtraHosts"),
    ({"Image": "b", "HostConfig": {"Memory": "1g"}}, "HostConfig.HostConfig.Memory"),
    ({"Image": "b", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "1"}]}}, "HostConfig.Ulimits.Soft"),
])
def test_create_body_wire_types(body, field):
    from hako.daemon.wiretypes import check_create_body

    with pytest.raises(InvalidArgument, match=f"json: cannot unmarshal .* Go struct field {field} "):
        check_create_body(body)


@pytest.mark.parametrize("body", [
    {"Image": "b", "Cmd": "sh", "Entrypoint": ["/e"], "Labels": {"a": "b"}, "Tty": True},
    {"Image": "b", "HostConfig": {"CapAdd": "NET_ADMIN", "Ulimits": [{"Name": "nofile"}], "Init": None,
                                  "RestartPolicy": {"Name": "always"}, "Tmpfs": {"/x": "size=1m"}}},
])
def test_create_body_wire_types_accepts_docker_forms(body):
    from hako.daemon.wiretypes import check_create_body

    check_create_body(body)


def test_create_relative_workdir_is_refused():
    from hako.daemon.wiretypes import check_create_body

    with pytest.raises(InvalidArgument, match="the working directory 'rel' is invalid, it needs to be an "
                                              "absolute path"):
        check_create_body({"Image": "b", "WorkingDir": "rel"})
