"""Engine API client: version negotiation, error kinds, frame demux (hako.client)."""

import json

import pytest

from hako import errors
from hako.client import errors as cerrors
from hako.client.api import APIClient
from hako.client.streams import FrameDecoder, encode_frame, json_lines
from hako.client.transport import FakeTransport, parse_host


@pytest.mark.parametrize("server,want", [("1.41", "1.41"), ("1.50", "1.41"), ("1.30", "1.30")])
def test_version_negotiation(server, want):
    t = FakeTransport(lambda m, p, b: (200, {"API-Version": server},
                                       b"OK" if p == "/_ping" else {}))
    api = APIClient(t)
    assert api.version == want
    assert t.calls[0][:2] == ("GET", "/_ping")
    api.system.info()
    assert t.calls[1][1] == f"/v{want}/info"


@pytest.mark.parametrize("status,kind", [
    (400, errors.InvalidArgument), (401, errors.Unauthorized), (403, errors.PermissionDenied),
    (404, errors.NotFound), (409, errors.Conflict), (500, errors.Internal),
    (501, errors.Unsupported), (503, errors.Unavailable),
])
def test_status_to_kind(status, kind):
    err = cerrors.from_response(status, b'{"message": "boom"}')
    assert isinstance(err, kind) and cerrors.is_daemon_error(err) and str(err) == "boom"


def test_not_found_kind_is_chosen_by_the_caller():
    t = FakeTransport(lambda m, p, b: (404, {}, {"message": "No such container: x"}))
    with pytest.raises(errors.ContainerNotFound, match="No such container: x"):
        APIClient(t, "1.41").containers.inspect("x")


def test_plain_text_error_body():
    assert str(cerrors.from_response(500, b"oops\n")) == "oops"


def test_start_already_running_is_not_an_error():
    t = FakeTransport(lambda m, p, b: (304, {}, b""))
    assert APIClient(t, "1.41").containers.start("c") is False


def test_query_encoding_of_filters_and_repeated_values():
    t = FakeTransport(lambda m, p, b: (200, {}, []))
    api = APIClient(t, "1.41")
    api.containers.list(all=True, filters={"name": ["a"]})
    assert t.calls[0][1] == "/v1.41/containers/json?all=1&size=0&filters=%7B%22name%22%3A%5B%22a%22%5D%7D"
    api.images.save(["a:1", "b"])
    assert t.calls[1][1] == "/v1.41/images/get?names=a%3A1&names=b"


def test_frame_decoder_handles_split_frames():
    data = encode_frame(1, b"out\n") + encode_frame(2, b"err\n")
    dec = FrameDecoder()
    got = []
    for i in range(len(data)):
        got += dec.feed(data[i:i + 1])
    assert got == [(1, b"out\n"), (2, b"err\n")] and dec.pending == 0


def test_json_lines_across_chunks():
    text = json.dumps({"status": "a"}) + "\r\n" + json.dumps({"status": "b"})
    chunks = [text[:5].encode(), text[5:].encode()]
    assert [m["status"] for m in json_lines(chunks)] == ["a", "b"]


@pytest.mark.parametrize("text,scheme,addr", [
    ("unix:///run/hako/hako.sock", "unix", "/run/hako/hako.sock"),
    ("/tmp/x.sock", "unix", "/tmp/x.sock"),
    ("tcp://127.0.0.1:2375", "tcp", "127.0.0.1:2375"),
    ("tcp://localhost", "tcp", "localhost:2375"),
])
def test_parse_host(text, scheme, addr):
    h = parse_host(text)
    assert (h.scheme, h.address) == (scheme, addr)


def test_parse_host_rejects_unknown_scheme():
    with pytest.raises(errors.InvalidArgument):
        parse_host("ssh://x")
