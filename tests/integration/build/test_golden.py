"""Golden Dockerfiles (tests/data/dockerfiles/<case>/) built through docker-py against hakod,
checked against recorded expectations (``expected.json``): files in the image (type, content,
mode, owner), paths that must be absent, config fields, and stream lines.

The expectations are Docker's documented results (Debian's docker.io builds these the same
way); set HAKO_GOLDEN_DOCKER=unix:///var/run/docker.sock to also build each case with a
real dockerd and compare the two images' trees and configs.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "dockerfiles"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").exists())


def client_for(host: str):
    docker = pytest.importorskip("docker")
    return docker.APIClient(base_url=host, version="1.41", timeout=120)


@pytest.fixture
def served():
    """A tiny http.server on 127.0.0.1 serving a temp dir; yields (dir, base url)."""
    root = tempfile.mkdtemp()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(root, ignore_errors=True)


def make_tar(path: str) -> None:
    with tarfile.open(path, "w:gz") as tf:
        data = b"inside the tar\n"
        info = tarfile.TarInfo("dir/inner.txt")
        info.size, info.uid, info.gid, info.mode = len(data), 1000, 1000, 0o644
        tf.addfile(info, io.BytesIO(data))


def build(client, ctx: str, tag: str, buildargs: dict | None = None) -> tuple[str, list[dict]]:
    lines = list(client.build(path=ctx, tag=tag, buildargs=buildargs or {}, rm=True, decode=True))
    errors = [m for m in lines if "error" in m or "errorDetail" in m]
    assert not errors, lines
    image_id = [m["aux"]["ID"] for m in lines if "aux" in m][-1]
    return image_id, lines


def tree(client, image: str) -> dict[str, tarfile.TarInfo | bytes]:
    """Path → (TarInfo, content) of the image's filesystem (via create + export)."""
    cid = client.create_container(image, command=["true"])["Id"]
    try:
        data = b"".join(client.export(cid))
    finally:
        client.remove_container(cid, force=True)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            content = tf.extractfile(m).read() if m.isfile() else b""
            out["/" + m.name.lstrip("./").rstrip("/")] = (m, content)
    return out


def check_files(files: dict, expected: dict) -> None:
    for path, want in expected.get("files", {}).items():
        assert path in files, f"{path} missing"
        info, content = files[path]
        kind = {"f": info.isfile(), "d": info.isdir(), "l": info.issym()}[want["type"]]
        assert kind, f"{path}: not of type {want['type']}"
        if "content" in want:
            assert content.decode() == want["content"], path
        if "mode" in want:
            assert oct(info.mode & 0o7777)[2:].zfill(4) == want["mode"], path
        for key in ("uid", "gid"):
            if key in want:
                assert getattr(info, key) == want[key], f"{path} {key}"
    for path in expected.get("absent", []):
        assert path not in files, f"{path} should not be in the image"


def check_config(config: dict, expected: dict) -> None:
    for key, value in expected.get("config", {}).items():
        assert config.get(key) == value, f"Config.{key}: {config.get(key)!r} != {value!r}"
    for item in expected.get("env_contains", []):
        assert item in (config.get("Env") or []), item


@pytest.mark.parametrize("case", CASES)
def test_golden(hakod, served, case):
    expected = json.loads((DATA / case / "expected.json").read_text())
    client = client_for(hakod.host)
    tags = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx_root = os.path.join(tmp, case)
        shutil.copytree(DATA / case, ctx_root, symlinks=True)
        if expected.get("generate") == "tar":
            make_tar(os.path.join(ctx_root, "files.tar.gz"))
        serve_dir, url = served
        for name, text in expected.get("serve", {}).items():
            Path(serve_dir, name).write_text(text)
        buildargs = {k: v.replace("{url}", url) for k, v in expected.get("buildargs", {}).items()}
        try:
            for parent in expected.get("parents", []):
                pid, _ = build(client, os.path.join(ctx_root, parent["dir"]), parent["tag"])
                tags.append(parent["tag"])
                check_config(client.inspect_image(pid)["Config"], parent)
                check_files(tree(client, pid), parent)
            tag = f"golden-{case}-{os.getpid()}"
            ctx = os.path.join(ctx_root, expected.get("dir", ""))
            image_id, lines = build(client, ctx, tag, buildargs)
            tags.append(tag)
            stream = [m.get("stream", "") for m in lines]
            for text in expected.get("stream_contains", []):
                assert text in stream, stream
            check_config(client.inspect_image(image_id)["Config"], expected)
            check_files(tree(client, image_id), expected)
            compare_with_docker(ctx, buildargs, case, image_id, client)
        finally:
            for t in reversed(tags):
                try:
                    client.remove_image(t, force=True)
                except Exception:  # noqa: BLE001 - cleanup is best effort
                    pass


def compare_with_docker(ctx: str, buildargs: dict, case: str, image_id: str, ours) -> None:
    """With HAKO_GOLDEN_DOCKER set, build with a real dockerd and compare trees/configs."""
    host = os.environ.get("HAKO_GOLDEN_DOCKER")
    if not host:
        return
    real = client_for(host)
    tag = f"hako-golden-{case}-{os.getpid()}"
    try:
        real_id, _ = build(real, ctx, tag, buildargs)
        theirs, mine = tree(real, real_id), tree(ours, image_id)
        assert sorted(theirs) == sorted(mine)
        for key in ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Volumes", "Labels", "OnBuild"):
            assert real.inspect_image(real_id)["Config"].get(key) == ours.inspect_image(image_id)["Config"].get(key)
    finally:
        real.remove_image(tag, force=True)
