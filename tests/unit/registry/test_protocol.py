"""Pure pieces of the registry protocol, the endpoint rules and the progress rendering."""

from __future__ import annotations

import pytest

from hako import errors
from hako.image.progress import Progress
from hako.image.registries import RegistryOptions
from hako.registry import protocol


def test_challenges():
    chs = protocol.parse_challenges(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:library/busybox:pull,push"')
    assert chs == [protocol.Challenge("bearer", {
        "realm": "https://auth.example/token", "service": "registry.example",
        "scope": "repository:library/busybox:pull,push"})]
    assert protocol.parse_challenges('Basic realm="x"')[0].scheme == "basic"


@pytest.mark.parametrize("value,size,expect", [
    ("bytes=0-", 10, (0, 9)), ("bytes=5-7", 10, (5, 7)), ("bytes=5-100", 10, (5, 9)),
    ("bytes=10-", 10, None), ("nonsense", 10, None)])
def test_range(value, size, expect):
    assert protocol.parse_range(value, size) == expect


def test_content_range_and_scope():
    assert protocol.parse_content_range("0-999") == (0, 999)
    assert protocol.parse_content_range("bytes 5-9/10") == (5, 9)
    assert protocol.parse_content_range("9-5") is None
    assert protocol.parse_scope("repository:a/b:pull,push") == protocol.Scope("repository", "a/b", ("pull", "push"))


def test_error_codes_map_to_kinds():
    err = protocol.parse_errors(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
    assert err.code == "MANIFEST_UNKNOWN" and isinstance(err.as_kind(), errors.NotFound)
    assert isinstance(protocol.parse_errors(401, b"").as_kind(), errors.Unauthorized)
    assert protocol.RegistryError("DIGEST_INVALID").status == 400


def test_registry_options():
    opts = RegistryOptions(mirrors=("http://127.0.0.1:5000",), insecure=("10.0.0.0/8", "reg.local:5000"))
    assert opts.is_insecure("127.0.0.1:5000") and opts.is_insecure("10.1.2.3")
    assert opts.is_insecure("reg.local:5000") and not opts.is_insecure("example.com")
    eps = opts.endpoints("docker.io")
    assert [e.mirror for e in eps] == [True, False] and eps[0].base_url == "http://127.0.0.1:5000"
    assert opts.endpoints("quay.io")[0].host == "quay.io"
    with pytest.raises(errors.InvalidArgument):
        RegistryOptions(mirrors=("127.0.0.1:5000",))


def test_progress_json():
    from hako.daemon.api.routes.registry import progress_json

    assert progress_json(Progress("Pulling fs layer", "abc")) == {
        "status": "Pulling fs layer", "progressDetail": {}, "id": "abc"}
    line = progress_json(Progress("Downloading", "abc", 50, 100))
    assert line["progressDetail"] == {"current": 50, "total": 100} and line["progress"].startswith("[=")
    assert progress_json(Progress("Digest: sha256:x", detail=False)) == {"status": "Digest: sha256:x"}
    assert progress_json(Progress("", aux={"Tag": "t"})) == {"progressDetail": {}, "aux": {"Tag": "t"}}
