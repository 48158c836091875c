"""Pull through hakod from a small fake registry on loopback that misbehaves: wrong digest,
truncated blob, unknown media type, a connection dropped mid-layer (resumed with Range),
invalid references. Clear errors, and no partial or unverified content in the store."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.integration

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_image(payload: bytes):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("data.bin")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    tar = buf.getvalue()
    layer = gzip.compress(tar, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha(tar)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": sha(layer), "size": len(layer)}]}).encode()
    return manifest, config, layer


class Fake:
    """Serves one image as ``fake/img:latest``; ``fault`` chooses the misbehaviour."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.manifest, self.config, self.layer = make_image(os.urandom(300_000))
        self.layer_gets = 0
        self.stalled, self.release = threading.Event(), threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.serve(self)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def serve(self, h) -> None:
        path = h.path
        if path == "/v2/":
            return self.send(h, 200, b"{}", "application/json")
        if path.startswith("/v2/fake/img/manifests/"):
            media = DOCKER_MANIFEST
            body = self.manifest
            if self.fault == "media-type":
                media = "application/vnd.example.unknown+json"
                body = json.dumps(dict(json.loads(body), mediaType=media)).encode()
            return self.send(h, 200, body, media, {"Docker-Content-Digest": sha(body)})
        if path == f"/v2/fake/img/blobs/{sha(self.config)}":
            return self.send(h, 200, self.config, "application/octet-stream")
        if path == f"/v2/fake/img/blobs/{sha(self.layer)}":
            return self.serve_layer(h)
        self.send(h, 404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}',
                  "application/json")

    def serve_layer(self, h) -> None:
        self.layer_gets += 1
        data = self.layer
        if self.fault == "wrong-digest":
            data = bytes(b ^ 0xFF for b in data[:100]) + data[100:]
        start = 0
        rng = h.headers.get("Range", "")
        if rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
        part = data[start:]
        h.send_response(206 if start else 200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(part)))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if h.command == "HEAD":
            return
        if self.fault == "stall":  # half the layer, then hold the connection open
            h.wfile.write(part[: len(part) // 2])
            h.wfile.flush()
            self.stalled.set()
            self.release.wait(60)
            h.close_connection = True
            return
        cut = self.fault == "truncated" or (self.fault == "drop-once" and self.layer_gets == 1)
        if cut:
            h.wfile.write(part[: len(part) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)
            return
        h.wfile.write(part)

    def send(self, h, status, body, ctype, headers=None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


@pytest.fixture
def fake(request):
    f = Fake(request.param)
    try:
        yield f
    finally:
        f.close()


def pull(hakod, ref: str, tag: str = "latest"):
    status, body = hakod.api("POST", "/images/create", query={"fromImage": ref, "tag": tag},
                             timeout=120)
    if status != 200:
        return status, body.get("message") if isinstance(body, dict) else body
    lines = [json.loads(x) for x in (body if isinstance(body, bytes) else json.dumps(body).encode()).split(b"\r\n") if x.strip()]
    errors = [x["error"] for x in lines if "error" in x]
    return status, errors[0] if errors else None


def blobs(hakod) -> set[str]:
    return set(os.listdir(os.path.join(hakod.data_root, "content", "blobs", "sha256")))


def ingests(hakod) -> list[str]:
    return os.listdir(os.path.join(hakod.data_root, "content", "ingest"))


@pytest.mark.parametrize("fake,expect", [
    ("wrong-digest", "verification failed"),
    ("truncated", "error pulling blob"),
    ("media-type", "unsupported manifest media type"),
], indirect=["fake"])
def test_bad_registry_leaves_nothing(hakod, fake, expect):
    before = blobs(hakod)
    status, error = pull(hakod, f"{fake.host}/fake/img")
    assert error is not None and expect in error, (status, error)
    assert blobs(hakod) == before  # no partial or unverified blob
    assert ingests(hakod) == []
    status, _ = hakod.api("GET", f"/images/{fake.host}/fake/img:latest/json")
    assert status == 404


@pytest.mark.parametrize("fake", ["drop-once"], indirect=True)
def test_dropped_connection_resumes(hakod, fake):
    status, error = pull(hakod, f"{fake.host}/fake/img")
    assert status == 200 and error is None
    assert fake.layer_gets == 2  # resumed with Range
    status, info = hakod.api("GET", f"/images/{fake.host}/fake/img:latest/json")
    assert status == 200 and info["Id"] == sha(fake.config)
    assert ingests(hakod) == []
    hakod.api("DELETE", f"/images/{fake.host}/fake/img:latest")
    assert sha(fake.layer)[7:] not in blobs(hakod)


@pytest.mark.parametrize("ref,tag", [("127.0.0.1:1/UPPER", "latest"), ("bad//name", ""),
                                     ("127.0.0.1:1/x", "bad tag")])
def test_invalid_reference(hakod, ref, tag):
    status, message = pull(hakod, ref, tag)
    assert status == 400 and "invalid reference format" in message


def test_unreachable_registry(hakod):
    status, message = pull(hakod, "127.0.0.1:1/nothing/here")
    assert status == 503 and "connection refused" in message


@pytest.mark.parametrize("fake", ["stall"], indirect=True)
def test_daemon_killed_mid_pull_restarts_clean(fresh_hakod, fake):
    d = fresh_hakod().start()
    before = blobs(d)
    def pull_until_killed() -> None:
        try:
            pull(d, f"{fake.host}/fake/img")
        except (OSError, http.client.HTTPException):  # the daemon is killed under it
            pass

    puller = threading.Thread(target=pull_until_killed, daemon=True)
    puller.start()
    assert fake.stalled.wait(60), "the pull never reached the layer"
    assert ingests(d)  # the partial download is an ingest, not a blob
    d.kill9()
    d.start()
    status, report = d.api("GET", "/system/check")
    assert status == 200 and report["Problems"] == [], report
    assert ingests(d) == [] and blobs(d) == before
