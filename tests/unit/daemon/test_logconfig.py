"""Log driver options: merging the daemon default, checks and texts as dockerd's."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from hako.daemon import config as configmod
from hako.daemon import logconfig
from hako.daemon.main import parse_args
from hako.errors import Internal, InvalidArgument


def _container(conf: dict, labels=None, env=None):
    return SimpleNamespace(
        id="ab" * 32, name="web", image="sha256:" + "cd" * 32, image_ref="busybox", path="sh",
        args=["-c", "true"], config={"Labels": labels or {}, "Env": env or [], "Hostname": "h"},
        host_config={"LogConfig": {"Type": "json-file", "Config": conf}})


@pytest.mark.parametrize("given,default,opts,want", [
    ({"Type": "", "Config": {}}, "json-file", {}, {"Type": "json-file", "Config": {}}),
    (None, "local", {"max-size": "2k"}, {"Type": "local", "Config": {"max-size": "2k"}}),
    ({"Type": "local", "Config": {"max-size": "1k"}}, "local", {"max-size": "2k", "max-file": "2"},
     {"Type": "local", "Config": {"max-size": "1k", "max-file": "2"}}),
    ({"Type": "json-file", "Config": None}, "local", {"max-size": "2k"}, {"Type": "json-file", "Config": {}}),
])
def test_merge_applies_the_daemon_default_like_dockerd(given, default, opts, want):
    assert logconfig.merge(given, default, opts) == want


@pytest.mark.parametrize("cfg,message", [
    ({"Type": "json-file", "Config": {"foo": "1"}}, "unknown log opt 'foo' for json-file log driver"),
    ({"Type": "local", "Config": {"tag": "x"}}, "unknown log opt 'tag' for log driver local"),
    ({"Type": "gelf", "Config": {}}, "HostConfig.LogConfig.Type is not supported yet (the gelf log driver)"),
    ({"Type": "x", "Config": {}}, 'error looking up logging plugin x: plugin "x" not found'),
])
def test_validate_refuses_with_dockers_texts(cfg, message):
    with pytest.raises(InvalidArgument, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        logconfig.validate(cfg)


def test_validate_accepts_known_drivers_and_none_with_anything():
    logconfig.validate({"Type": "json-file", "Config": {"max-size": "1k", "labels": "a", "env-regex": "x"}})
    logconfig.validate({"Type": "local", "Config": {"compress": "false"}})
    logconfig.validate({"Type": "none", "Config": {"whatever": "1"}})


@pytest.mark.parametrize("conf,message", [
    ({"max-size": "abc"}, "invalid size: 'abc'"),
    ({"max-size": "0"}, "max-size must be a positive number"),
    ({"max-file": "0"}, "max-file cannot be less than 1"),
    ({"max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
    ({"compress": "maybe"}, 'strconv.ParseBool: parsing "maybe": invalid syntax'),
    ({"compress": "true", "max-size": "1k"},
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
    ({"labels-regex": "("}, "error parsing regexp: missing ), unterminated subpattern: `(`"),
    ({"tag": "{{.Foo}}"}, 'template: log-tag:1:2: executing "log-tag" at <.Foo>: can\'t evaluate '
                          'field Foo in type *logger.Info'),
])
def test_json_file_values_fail_the_start(conf, message):
    with pytest.raises(Internal) as err:
        logconfig.writer_options(_container(conf))
    assert str(err.value) == f"failed to initialize logging driver: {message}"


def test_json_file_writer_options_and_attrs():
    c = _container({"max-size": "1k", "max-file": "3", "compress": "true", "labels": "a,missing",
                    "labels-regex": "^com\\.", "env": "FOO", "env-regex": "^X", "tag": "{{.Name}}/{{.ID}}"},
                   labels={"a": "1", "b": "2", "com.x": "y"}, env=["FOO=bar", "XA=1", "PATH=/bin"])
    opts = logconfig.writer_options(c)
    assert (opts["max_size"], opts["max_file"], opts["compress"]) == (1000, 3, True)
    assert json.loads(opts["attrs"]) == {"a": "1", "com.x": "y", "FOO": "bar", "XA": "1", "tag": "web/" + "ab" * 6}
    assert logconfig.writer_options(_container({}))["attrs"] == ""


@pytest.mark.parametrize("conf,want", [
    ({}, {"max_size": 20 * 1024 * 1024, "max_file": 5, "compress": True}),
    ({"max-size": "1k", "max-file": "1", "compress": "false"}, {"max_size": 1000, "max_file": 1, "compress": False}),
])
def test_local_defaults_and_options(conf, want):
    c = _container(conf)
    c.host_config["LogConfig"]["Type"] = "local"
    got = logconfig.writer_options(c)
    assert {k: got[k] for k in want} == want


def test_local_bad_values():
    c = _container({"max-file": "1"})
    c.host_config["LogConfig"]["Type"] = "local"
    with pytest.raises(Internal, match="compression cannot be enabled when max file count is 1"):
        logconfig.writer_options(c)
    c.host_config["LogConfig"]["Config"] = {"max-size": "x"}
    with pytest.raises(Internal, match="invalid value for max-size: x: invalid size: 'x'"):
        logconfig.writer_options(c)


def test_log_paths_per_driver():
    assert logconfig.log_path("/r", "id", "json-file") == "/r/id-json.log"
    assert logconfig.log_path("/r", "id", "local") == "/r/local-logs/container.log"
    assert logconfig.log_path("/r", "id", "none") == ""


def test_daemon_flags_and_file_keys(tmp_path):
    flags, _ = parse_args(["--log-driver", "local", "--log-opt", "max-size=2k", "--log-opt", "max-file=2"])
    conf = configmod.load(flags, None)
    assert (conf.log_driver, conf.log_opts) == ("local", {"max-size": "2k", "max-file": "2"})
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"log-driver": "json-file", "log-opts": {"max-size": "10m"}}))
    conf = configmod.load({}, str(path))
    assert (conf.log_driver, conf.log_opts) == ("json-file", {"max-size": "10m"})
    path.write_text(json.dumps({"log-opts": {"nope": "1"}}))
    with pytest.raises(InvalidArgument, match="unknown log opt 'nope' for json-file log driver"):
        configmod.load({}, str(path))
    with pytest.raises(InvalidArgument, match="invalid key value pair format in log opts: x"):
        parse_args(["--log-opt", "x"])
