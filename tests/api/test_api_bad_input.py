"""Table-driven bad-input checks against a live hakod: Docker's status code, a clear message,
and a store left as it was (no image, container or name appears after a refused request).

Each row: (method, path, query, body, expected status, expected message substring). ``body``
is a JSON-able value, or bytes sent raw (malformed JSON, tarballs).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

pytestmark = pytest.mark.integration

NOSUCH = "nosuch-0123456789ab"


def _tar(entries: list[tuple[str, bytes | str, bytes]]) -> bytes:
    """A tar from (name, kind or link target, data) rows: kind "f" file, "l:<t>" symlink,
    "h:<t>" hard link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if kind.startswith("l:"):
                info.type, info.linkname = tarfile.SYMTYPE, kind[2:]
                tf.addfile(info)
            elif kind.startswith("h:"):
                info.type, info.linkname = tarfile.LNKTYPE, kind[2:]
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _save_archive(layer: bytes, tag: str) -> bytes:
    """A ``docker save`` archive holding one image whose only layer is ``layer``."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "test"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": ["layer0/layer.tar"]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in ((config_name, config), ("layer0/layer.tar", layer),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


EVIL_LAYERS = {
    "dotdot": _tar([("../evil", "f", b"x")]),
    "nested-dotdot": _tar([("a/", "f", b""), ("a/../../evil", "f", b"x")]),
    "hardlink-out": _tar([("passwd", "h:../../../etc/passwd", b"")]),
    "symlink-then-write": _tar([("esc", "l:../../../../tmp", b""), ("esc/evil", "f", b"x")]),
}

CASES = [
    # containers: create
    ("POST", "/containers/create", None, b"{bad", 400, "invalid"),
    ("POST", "/containers/create", None, b"[1, 2]", 400, "Config cannot be empty"),
    ("POST", "/containers/create", None, {"Image": "nosuchimage:1"}, 404, "No such image: nosuchimage:1"),
    ("POST", "/containers/create", None, {"Cmd": ["true"]}, 400, "Config cannot be empty"),
    ("POST", "/containers/create", {"name": "bad name!"}, {"Image": "busybox"}, 400,
     "Invalid container name (bad name!)"),
    ("POST", "/containers/create", {"name": "-leading"}, {"Image": "busybox"}, 400, "Invalid container name"),
    ("POST", "/containers/create", None, {"Image": "busybox", "HostConfig": {"Memory": "lots"}}, 400,
     "cannot unmarshal string"),
    ("POST", "/containers/create", None, {"Image": "busybox", "HostConfig": {"Memory": 1024}}, 400,
     "Minimum memory limit allowed is 6MB"),
    ("POST", "/containers/create", None,
     {"Image": "busybox", "HostConfig": {"Memory": 64 << 20, "MemorySwap": 32 << 20}}, 400,
     "Minimum memoryswap limit should be larger than memory limit"),
    ("POST", "/containers/create", None, {"Image": "busybox", "HostConfig": {"CpuShares": "x"}}, 400,
     "cannot unmarshal string"),
    ("POST", "/containers/create", None,
     {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, 400,
     "invalid restart policy"),
    ("POST", "/containers/create", None, {"Image": "busybox", "HostConfig": {"Runtime": "nosuchrt"}}, 400,
     "nosuchrt"),
    # containers: unknown ids
    ("GET", f"/containers/{NOSUCH}/json", None, None, 404, f"No such container: {NOSUCH}"),
    ("POST", f"/containers/{NOSUCH}/start", None, None, 404, f"No such container: {NOSUCH}"),
    ("POST", f"/containers/{NOSUCH}/stop", None, None, 404, f"No such container: {NOSUCH}"),
    ("POST", f"/containers/{NOSUCH}/wait", None, None, 404, f"No such container: {NOSUCH}"),
    ("DELETE", f"/containers/{NOSUCH}", None, None, 404, f"No such container: {NOSUCH}"),
    ("GET", f"/containers/{NOSUCH}/logs", {"stdout": "1"}, None, 404, f"No such container: {NOSUCH}"),
    ("POST", f"/containers/{NOSUCH}/exec", None, {"Cmd": ["true"]}, 404, f"No such container: {NOSUCH}"),
    ("POST", f"/exec/{NOSUCH}/start", None, {}, 404, f"No such exec instance: {NOSUCH}"),
    # signals: Docker parses the signal before it looks the container up
    ("POST", f"/containers/{NOSUCH}/kill", {"signal": "SIGFOO"}, None, 400, "Invalid signal: SIGFOO"),
    ("POST", f"/containers/{NOSUCH}/kill", None, None, 404, f"No such container: {NOSUCH}"),
    # filters
    ("GET", "/containers/json", {"filters": json.dumps({"colour": ["red"]})}, None, 400,
     "invalid filter 'colour'"),
    ("GET", "/containers/json", {"filters": "{bad"}, None, 400, "invalid filter"),
    ("GET", "/images/json", {"filters": json.dumps({"colour": ["red"]})}, None, 400, "invalid filter 'colour'"),
    # images
    ("GET", "/images/nosuchimage/json", None, None, 404, "No such image: nosuchimage:latest"),
    ("GET", "/images/nosuchimage/history", None, None, 404, "No such image: nosuchimage:latest"),
    ("DELETE", "/images/nosuchimage", None, None, 404, "No such image: nosuchimage:latest"),
    ("POST", "/images/nosuchimage/tag", {"repo": "x"}, None, 404, "No such image: nosuchimage:latest"),
    ("POST", "/images/busybox/tag", {"repo": "Bad Repo"}, None, 400, "invalid reference format"),
    ("POST", "/images/create", {"fromSrc": "-", "repo": "garbage"}, b"not a tar" * 200, 400, "invalid"),
    # Docker 20.10 (API 1.41) answers a failed load with 200 and the error in the stream.
    ("POST", "/images/load", None, b"garbage", 200, "invalid"),
    ("POST", "/images/load", None, _tar([("hello", "f", b"x")]), 200, "manifest.json"),
    ("GET", "/nosuchpath", None, None, 404, "page not found"),
] + [
    ("POST", "/images/create", {"fromSrc": "-", "repo": f"evil-{key}"}, layer, 400, "invalid tar entry")
    for key, layer in EVIL_LAYERS.items()
] + [
    ("POST", "/images/load", None, _save_archive(layer, f"evil-{key}:load"), 200, "invalid tar entry")
    for key, layer in EVIL_LAYERS.items()
]


def _ids(case) -> str:
    method, path, query, body, status, _ = case
    extra = ",".join(f"{k}={v}" for k, v in (query or {}).items())[:30]
    kind = "raw" if isinstance(body, bytes) else ("json" if body else "")
    return f"{method} {path} {extra} {kind} {status}".replace(" ", "_")


def _snapshot(hakod) -> tuple:
    status, images = hakod.api("GET", "/images/json", query={"all": "1"})
    assert status == 200, images
    status, containers = hakod.api("GET", "/containers/json", query={"all": "1"})
    assert status == 200, containers
    return (sorted((i["Id"], tuple(sorted(i["RepoTags"] or ()))) for i in images),
            sorted((c["Id"], tuple(c["Names"])) for c in containers))


@pytest.mark.parametrize("method,path,query,body,status,message", CASES, ids=[_ids(c) for c in CASES])
def test_bad_input(hakod, method, path, query, body, status, message):
    before = _snapshot(hakod)
    raw = body if isinstance(body, bytes) else None
    got, reply = hakod.api(method, path, body=None if raw is not None else body, raw=raw, query=query)
    try:
        assert got == status, reply
        assert isinstance(reply, dict), reply
        text = reply.get("message") or reply.get("errorDetail", {}).get("message", "")
        assert message in text, reply
    finally:
        after = _snapshot(hakod)
        if got == 201 and isinstance(reply, dict) and reply.get("Id"):
            hakod.api("DELETE", f"/containers/{reply['Id']}", query={"force": "1"})
    assert after == before


def test_bad_signal_on_running_container(hakod):
    status, reply = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "100"]})
    assert status == 201, reply
    cid = reply["Id"]
    try:
        assert hakod.api("POST", f"/containers/{cid}/start")[0] == 204
        for sig in ("FOO", "99", "-1"):
            status, reply = hakod.api("POST", f"/containers/{cid}/kill", query={"signal": sig})
            assert status == 400 and reply["message"] == f"Invalid signal: {sig}", reply
        status, reply = hakod.api("POST", f"/containers/{cid}/wait", query={"condition": "bogus"})
        assert status == 400 and "invalid condition" in reply["message"]
        status, state = hakod.api("GET", f"/containers/{cid}/json")
        assert state["State"]["Running"] is True
    finally:
        hakod.api("DELETE", f"/containers/{cid}", query={"force": "1"})


def test_string_cmd_is_one_argument(hakod):
    """Docker's StrSlice: a JSON string Cmd/Entrypoint is one argument, not a list of chars."""
    status, reply = hakod.api("POST", "/containers/create", {"Image": "busybox", "Cmd": "true"})
    assert status == 201, reply
    try:
        status, info = hakod.api("GET", f"/containers/{reply['Id']}/json")
        assert (info["Path"], info["Args"], info["Config"]["Cmd"]) == ("true", [], ["true"])
    finally:
        hakod.api("DELETE", f"/containers/{reply['Id']}", query={"force": "1"})


def test_no_store_leftovers_after_refused_imports(hakod):
    """Refused imports and loads leave no blobs, snapshots or temp dirs behind."""
    import os

    data_root = hakod.data_root

    def inventory() -> set[str]:
        found = set()
        for top in ("content", "snapshots", "tmp"):
            base = os.path.join(data_root, top)
            for dirpath, dirs, files in os.walk(base):
                found.update(os.path.relpath(os.path.join(dirpath, n), data_root) for n in files + dirs)
        return found

    before = inventory()
    for key, layer in EVIL_LAYERS.items():
        assert hakod.api("POST", "/images/create", raw=layer, query={"fromSrc": "-", "repo": "x"})[0] == 400
        status, reply = hakod.api("POST", "/images/load", raw=_save_archive(layer, "x:y"))
        assert status == 200 and "invalid tar entry" in reply["errorDetail"]["message"]
    leftovers = {p for p in inventory() - before if "ingest" not in p or not p.endswith("ingest")}
    assert not leftovers, sorted(leftovers)[:20]
