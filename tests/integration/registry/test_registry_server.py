"""`hako registry serve` speaks the OCI distribution protocol: checked over raw HTTP."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket

import pytest

from tests.registry_harness import HakoRegistry

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def reg():
    r = HakoRegistry()
    try:
        yield r.start()
    finally:
        r.cleanup()


def req(reg, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(reg.host, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload(reg, repo, data: bytes) -> str:
    status, headers, _ = req(reg, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    status, _, body = req(reg, "PUT", headers["Location"] + f"?digest={digest(data)}", data)
    assert status == 201, body
    return digest(data)


def push_image(reg, repo, tag, layer=b"layer-bytes"):
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
    upload(reg, repo, config)
    upload(reg, repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": digest(layer), "size": len(layer)}]}).encode()
    status, headers, body = req(reg, "PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                                {"Content-Type": DOCKER_MANIFEST})
    assert status == 201, body
    assert headers["Docker-Content-Digest"] == digest(manifest)
    return manifest


def test_base_and_error_format(reg):
    status, headers, body = req(reg, "GET", "/v2/")
    assert status == 200 and headers["Docker-Distribution-API-Version"] == "registry/2.0"
    status, _, body = req(reg, "GET", "/v2/nothere/manifests/latest")
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "NAME_UNKNOWN"


def test_monolithic_and_range(reg):
    data = os.urandom(5000)
    d = upload(reg, "mono/repo", data)
    status, headers, _ = req(reg, "HEAD", f"/v2/mono/repo/blobs/{d}")
    assert status == 200 and headers["Content-Length"] == "5000"
    assert headers["Docker-Content-Digest"] == d
    status, headers, body = req(reg, "GET", f"/v2/mono/repo/blobs/{d}", headers={"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200]
    assert headers["Content-Range"] == "bytes 100-199/5000"
    status, _, _ = req(reg, "GET", f"/v2/mono/repo/blobs/{d}", headers={"Range": "bytes=9000-"})
    assert status == 416
    status, _, _ = req(reg, "HEAD", f"/v2/other/repo/blobs/{d}")
    assert status == 404  # blobs are per repository until mounted


def test_monolithic_post_with_digest(reg):
    data = b"one request"
    status, headers, _ = req(reg, "POST", f"/v2/post/one/blobs/uploads/?digest={digest(data)}", data)
    assert status == 201 and headers["Docker-Content-Digest"] == digest(data)


def test_chunked_upload_and_out_of_order(reg):
    data = os.urandom(3000)
    status, headers, _ = req(reg, "POST", "/v2/chunk/repo/blobs/uploads/")
    loc = headers["Location"]
    status, headers, _ = req(reg, "PATCH", loc, data[:1000], {"Content-Range": "0-999"})
    assert status == 202 and headers["Range"] == "0-999"
    status, _, body = req(reg, "PATCH", loc, data[2000:], {"Content-Range": "2000-2999"})
    assert status == 416, body
    status, headers, _ = req(reg, "GET", loc)
    assert status == 204 and headers["Range"] == "0-999"
    status, headers, _ = req(reg, "PATCH", loc, data[1000:], {"Content-Range": "1000-2999"})
    assert status == 202 and headers["Range"] == "0-2999"
    status, _, _ = req(reg, "PUT", loc + f"?digest={digest(data)}")
    assert status == 201
    assert req(reg, "GET", f"/v2/chunk/repo/blobs/{digest(data)}")[2] == data


def test_wrong_digest_is_never_visible(reg):
    data = b"some bytes"
    wrong = digest(b"other bytes")
    status, headers, _ = req(reg, "POST", "/v2/wrong/repo/blobs/uploads/")
    status, _, body = req(reg, "PUT", headers["Location"] + f"?digest={wrong}", data)
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIGEST_INVALID"
    assert req(reg, "HEAD", f"/v2/wrong/repo/blobs/{wrong}")[0] == 404
    assert req(reg, "HEAD", f"/v2/wrong/repo/blobs/{digest(data)}")[0] == 404


def test_interrupted_upload_is_never_visible(reg):
    data = os.urandom(100_000)
    status, headers, _ = req(reg, "POST", "/v2/cut/repo/blobs/uploads/")
    host, port = reg.host.split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall((f"PUT {headers['Location']}?digest={digest(data)} HTTP/1.1\r\nHost: x\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data[:40_000])
    assert req(reg, "HEAD", f"/v2/cut/repo/blobs/{digest(data)}")[0] == 404
    blobs = os.path.join(reg.storage, "content", "blobs", "sha256")
    assert digest(data)[7:] not in os.listdir(blobs)


def test_manifests_tags_catalog_delete(reg):
    manifest = push_image(reg, "lib/app", "v1")
    push_image(reg, "lib/app", "v2", b"second layer")
    d = digest(manifest)
    for ref in ("v1", d):
        status, headers, body = req(reg, "GET", f"/v2/lib/app/manifests/{ref}",
                                    headers={"Accept": DOCKER_MANIFEST})
        assert status == 200 and body == manifest
        assert headers["Content-Type"] == DOCKER_MANIFEST and headers["Docker-Content-Digest"] == d
    status, headers, body = req(reg, "HEAD", f"/v2/lib/app/manifests/v1")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(manifest))
    status, headers, body = req(reg, "GET", "/v2/lib/app/tags/list?n=1")
    assert json.loads(body) == {"name": "lib/app", "tags": ["v1"]} and "next" in headers["Link"]
    status, _, body = req(reg, "GET", "/v2/lib/app/tags/list?n=1&last=v1")
    assert json.loads(body)["tags"] == ["v2"]
    assert "lib/app" in json.loads(req(reg, "GET", "/v2/_catalog")[2])["repositories"]
    search = json.loads(req(reg, "GET", "/v1/search?q=app")[2])
    assert [r["name"] for r in search["results"]] == ["lib/app"]
    assert req(reg, "DELETE", f"/v2/lib/app/manifests/{d}")[0] == 202
    assert req(reg, "GET", "/v2/lib/app/manifests/v1")[0] == 404
    assert json.loads(req(reg, "GET", "/v2/lib/app/tags/list")[2])["tags"] == ["v2"]


def test_manifest_with_unknown_blob_or_type(reg):
    missing = digest(b"never uploaded")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                      "digest": missing, "size": 3}, "layers": []}).encode()
    status, _, body = req(reg, "PUT", "/v2/bad/manifest/manifests/x", manifest,
                          {"Content-Type": DOCKER_MANIFEST})
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    weird = json.dumps({"schemaVersion": 2, "mediaType": "application/x-unknown",
                        "config": {"mediaType": "x", "digest": missing, "size": 3}}).encode()
    status, _, body = req(reg, "PUT", "/v2/bad/manifest/manifests/y", weird,
                          {"Content-Type": "application/x-unknown"})
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "MANIFEST_INVALID"


def test_cross_repository_mount(reg):
    d = upload(reg, "src/repo", b"shared layer")
    status, headers, _ = req(reg, "POST", f"/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo")
    assert status == 201 and headers["Docker-Content-Digest"] == d
    assert req(reg, "HEAD", f"/v2/dst/repo/blobs/{d}")[0] == 200
    status, _, _ = req(reg, "POST", f"/v2/dst2/repo/blobs/uploads/?mount={d}&from=nothere/repo")
    assert status == 202  # not mountable: an upload session instead


def test_gc_removes_only_unreferenced(tmp_path):
    import subprocess
    import sys

    r = HakoRegistry()
    try:
        r.start()
        kept = push_image(r, "gc/app", "v1", b"kept layer")
        old = push_image(r, "gc/app", "v1", b"replaced layer")  # v1 moves: `kept` is untagged
        orphan = upload(r, "gc/app", b"never referenced")
        r.stop()
        res = subprocess.run([sys.executable, "-m", "hako.registry.server.main", "gc", "--root",
                              r.storage, "--delete-untagged"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert orphan in res.stdout and digest(b"kept layer") in res.stdout
        assert digest(b"replaced layer") not in res.stdout and f"gc/app@{digest(kept)}" in res.stdout
        r.start()
        assert req(r, "HEAD", f"/v2/gc/app/blobs/{orphan}")[0] == 404
        assert req(r, "GET", "/v2/gc/app/manifests/v1")[2] == old
        assert req(r, "GET", f"/v2/gc/app/manifests/{digest(kept)}")[0] == 404
    finally:
        r.cleanup()


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = b"{}"


def push_referrer(reg, repo, subject: bytes, artifact_type: str, payload: bytes) -> bytes:
    """An OCI artifact manifest (empty config, one blob) whose subject is ``subject``."""
    upload(reg, repo, EMPTY)
    upload(reg, repo, payload)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(EMPTY),
                   "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": digest(payload),
                    "size": len(payload)}],
        "subject": {"mediaType": DOCKER_MANIFEST, "digest": digest(subject), "size": len(subject)},
        "annotations": {"org.example.kind": artifact_type.rsplit(".", 1)[-1]}}).encode()
    status, headers, body = req(reg, "PUT", f"/v2/{repo}/manifests/{digest(manifest)}", manifest,
                                {"Content-Type": OCI_MANIFEST})
    assert status == 201, body
    assert headers["OCI-Subject"] == digest(subject)  # the registry indexes referrers itself
    return manifest


def test_referrers_api(reg):
    image = push_image(reg, "ref/app", "v1", b"referred layer")
    sbom = push_referrer(reg, "ref/app", image, "application/vnd.example.sbom", b"sbom")
    sig = push_referrer(reg, "ref/app", image, "application/vnd.example.sig", b"signature")

    status, headers, body = req(reg, "GET", f"/v2/ref/app/referrers/{digest(image)}")
    assert status == 200 and headers["Content-Type"] == "application/vnd.oci.image.index.v1+json"
    index = json.loads(body)
    assert index["schemaVersion"] == 2 and index["mediaType"] == headers["Content-Type"]
    want = sorted([(digest(sbom), len(sbom), "application/vnd.example.sbom"),
                   (digest(sig), len(sig), "application/vnd.example.sig")])
    assert sorted((m["digest"], m["size"], m["artifactType"]) for m in index["manifests"]) == want
    assert all(m["mediaType"] == OCI_MANIFEST for m in index["manifests"])
    assert {m["annotations"]["org.example.kind"] for m in index["manifests"]} == {"sbom", "sig"}

    status, headers, body = req(reg, "GET", f"/v2/ref/app/referrers/{digest(image)}"
                                            "?artifactType=application/vnd.example.sig")
    assert headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in json.loads(body)["manifests"]] == [digest(sig)]

    # a subject nobody refers to, or a repository that does not exist: an empty index, not 404
    for path in (f"/v2/ref/app/referrers/{digest(b'nothing')}",
                 f"/v2/no/such/referrers/{digest(image)}"):
        status, _, body = req(reg, "GET", path)
        assert status == 200 and json.loads(body)["manifests"] == []
    status, _, body = req(reg, "GET", "/v2/ref/app/referrers/sha256:nothex")
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIGEST_INVALID"

    # deleting a referrer takes it out of the index
    assert req(reg, "DELETE", f"/v2/ref/app/manifests/{digest(sig)}")[0] == 202
    index = json.loads(req(reg, "GET", f"/v2/ref/app/referrers/{digest(image)}")[2])
    assert [m["digest"] for m in index["manifests"]] == [digest(sbom)]


def test_kept_alive_requests_are_not_held_by_delayed_acks(reg):
    """Small answers go out at once on a kept-alive connection: with Nagle's algorithm on
    and headers and body written apart, each waited for the client's delayed ACK (40 ms
    on Linux), so 50 manifest GETs took at least 2 s (docker pull makes several)."""
    import time

    push_image(reg, "keepalive/img", "v1")
    conn = http.client.HTTPConnection(reg.host, timeout=30)
    try:
        t0 = time.monotonic()
        for _ in range(50):
            conn.request("GET", "/v2/keepalive/img/manifests/v1",
                         headers={"Accept": DOCKER_MANIFEST})
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read()
        elapsed = time.monotonic() - t0
    finally:
        conn.close()
    assert elapsed < 1.5, f"50 kept-alive GETs took {elapsed:.2f} s"


def test_chunked_session_survives_many_patches(reg):
    """PATCH after PATCH on one session (its writer kept open between them), then PUT: the
    blob is the bytes sent, in order, and the upload status follows each chunk."""
    status, headers, _ = req(reg, "POST", "/v2/chunks/many/blobs/uploads/")
    assert status == 202
    location, sent = headers["Location"], b""
    for i in range(8):
        piece = os.urandom(1000 + i)
        status, headers, body = req(reg, "PATCH", location, piece,
                                    {"Content-Range": f"{len(sent)}-{len(sent) + len(piece) - 1}"})
        assert status == 202, body
        sent += piece
        assert headers["Range"] == f"0-{len(sent) - 1}"
        status, headers, _ = req(reg, "GET", location)
        assert status == 204 and headers["Range"] == f"0-{len(sent) - 1}"
    status, _, body = req(reg, "PUT", location + f"?digest={digest(sent)}")
    assert status == 201, body
    assert req(reg, "GET", f"/v2/chunks/many/blobs/{digest(sent)}")[2] == sent
