"""Endpoint resolution and the context store (docker's rules and files)."""

import hashlib
import json
import os

import pytest

from hako.cli import endpoint
from hako.cli.endpoint import GlobalOptions


def env(tmp_path, **kw):
    return {"DOCKER_CONFIG": str(tmp_path), **kw}


def make_context(tmp_path, name, host):
    endpoint.save_context(env(tmp_path), {"Name": name, "Metadata": {},
                                          "Endpoints": {"docker": {"Host": host,
                                                                   "SkipTLSVerify": False}}})


def test_context_files_are_dockers_layout(tmp_path):
    make_context(tmp_path, "foo", "unix:///x.sock")
    digest = hashlib.sha256(b"foo").hexdigest()
    meta = json.loads((tmp_path / "contexts" / "meta" / digest / "meta.json").read_text())
    assert meta["Endpoints"]["docker"]["Host"] == "unix:///x.sock"


def test_precedence(tmp_path):
    make_context(tmp_path, "foo", "unix:///foo.sock")
    make_context(tmp_path, "bar", "unix:///bar.sock")
    e = env(tmp_path)
    assert endpoint.resolve(GlobalOptions(), e).host == endpoint.DEFAULT_HOST
    endpoint.set_current(e, "foo")
    assert endpoint.resolve(GlobalOptions(), e).host == "unix:///foo.sock"
    assert endpoint.resolve(GlobalOptions(), dict(e, DOCKER_CONTEXT="bar")).host == \
        "unix:///bar.sock"
    # DOCKER_HOST (or HAKO_HOST) means the default context, over DOCKER_CONTEXT and config
    got = endpoint.resolve(GlobalOptions(), dict(e, DOCKER_CONTEXT="bar", DOCKER_HOST="tcp://h:1"))
    assert (got.context, got.host) == ("default", "tcp://h:1")
    assert endpoint.resolve(GlobalOptions(context="bar"), dict(e, DOCKER_HOST="tcp://h:1")).host \
        == "unix:///bar.sock"
    assert endpoint.resolve(GlobalOptions(hosts=("unix:///h",)), e).host == "unix:///h"
    endpoint.set_current(e, "default")
    assert "currentContext" not in json.loads((tmp_path / "config.json").read_text())


def test_unknown_context_and_conflicts(tmp_path):
    with pytest.raises(endpoint.ContextNotFound, match='context "nope": context not found: open '):
        endpoint.resolve(GlobalOptions(context="nope"), env(tmp_path))
    with pytest.raises(Exception, match="cannot specify both --host and --context"):
        endpoint.resolve(GlobalOptions(context="x", hosts=("unix:///h",)), env(tmp_path))


def test_tls_from_flags_env_and_cert_path(tmp_path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    e = env(tmp_path, DOCKER_HOST="tcp://h:2376", DOCKER_TLS_VERIFY="1",
            DOCKER_CERT_PATH=str(tmp_path))
    tls = endpoint.resolve(GlobalOptions(), e).tls
    assert tls.verify and tls.ca == os.path.join(tmp_path, "ca.pem")
    assert endpoint.resolve(GlobalOptions(), env(tmp_path)).tls is None
    tls = endpoint.resolve(GlobalOptions(tls=True, tlscacert="/my/ca"), env(tmp_path)).tls
    assert not tls.verify and tls.ca == "/my/ca" and tls.cert.endswith("cert.pem")


def test_context_tls_material_is_used(tmp_path):
    e = env(tmp_path)
    endpoint.save_context(e, {"Name": "secure", "Metadata": {}, "Endpoints": {"docker": {
        "Host": "tcp://h:2376", "SkipTLSVerify": False}}},
        {"ca.pem": b"ca", "cert.pem": b"cert", "key.pem": b"key"})
    got = endpoint.resolve(GlobalOptions(context="secure"), e)
    assert got.host == "tcp://h:2376" and got.tls.verify
    assert open(got.tls.ca).read() == "ca" and got.tls.key.endswith("/docker/key.pem")
    assert os.stat(got.tls.key).st_mode & 0o777 == 0o600
