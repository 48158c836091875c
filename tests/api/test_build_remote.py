"""POST /build?remote=: http(s) and git only. Every other scheme, and bare paths, get 400
naming the scheme before anything is fetched; a redirect to another scheme is refused too."""

from __future__ import annotations

import http.server
import io
import os
import subprocess
import tarfile
import threading

import pytest

from hako.build.context import check_remote_url
from hako.errors import InvalidArgument

HOSTILE = [
    ("file:///etc/passwd", "'file'"),
    ("FILE:///etc/passwd", "'FILE'"),
    ("ftp://127.0.0.1/ctx.tar", "'ftp'"),
    ("gopher://127.0.0.1:70/_x", "'gopher'"),
    ("ssh://host/repo", "'ssh'"),
    ("ext::sh -c touch% /tmp/pwned", "bare path"),
    ("/etc/passwd", "bare path"),
    ("../../etc", "bare path"),
    ("jar:file:///x!/y", "'jar:file'"),
]


@pytest.mark.parametrize("url,named", HOSTILE)
def test_check_remote_url_refuses(url, named):
    with pytest.raises(InvalidArgument) as info:
        check_remote_url(url)
    assert named in str(info.value)
    assert "is not supported" in str(info.value)


@pytest.mark.parametrize("url", [
    "http://example.com/ctx.tar", "https://example.com/Dockerfile", "git://example.com/r.git",
    "git@github.com:docker/docker.git", "git@github.com:docker/docker.git#v1:sub",
    "github.com/docker/docker", "https://example.com/r.git#main",
])
def test_check_remote_url_accepts_docker_forms(url):
    check_remote_url(url)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim"
    path.write_text("FROM busybox\nRUN echo from-victim\n")
    return path


@pytest.mark.integration
@pytest.mark.parametrize("scheme", ["file://", "ftp://127.0.0.1", "gopher://127.0.0.1", ""])
def test_build_refuses_scheme_before_fetch(hakod, victim, scheme):
    url = f"{scheme}{victim}"
    before = hakod.api("GET", "/images/json")[1]
    status, body = hakod.api("POST", "/build", query={"remote": url, "t": "remote-hostile"}, raw=b"")
    assert status == 400, body
    assert "is not supported" in body["message"]
    if scheme:
        assert repr(scheme.split("://")[0]) in body["message"]
    assert hakod.api("GET", "/images/json")[1] == before


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/ctx.tar" if "ftp" in self.path else "file:///etc/passwd")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             lambda *a: _Handler(*a, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _lines(payload):
    import json
    return [json.loads(x) for x in payload.decode().splitlines() if x.strip()]


@pytest.mark.integration
@pytest.mark.parametrize("path,target", [("/redirect", "file:///etc/passwd"),
                                         ("/redirect-ftp", "ftp://127.0.0.1/ctx.tar")])
def test_redirect_to_other_scheme_is_refused(hakod, http_root, path, target):
    _, base = http_root
    status, body = hakod.api("POST", "/build", query={"remote": f"{base}{path}"}, raw=b"")
    assert status == 400, body
    assert target in body["message"]
    assert "not supported" in body["message"] or "not allowed" in body["message"]


@pytest.mark.integration
def test_http_tar_context_still_builds(hakod, http_root):
    root, base = http_root
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"FROM busybox\nCOPY f /f\n"
        for name, content in (("Dockerfile", data), ("f", b"remote-ok\n")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    (root / "ctx.tar").write_bytes(buf.getvalue())
    status, payload = hakod.api("POST", "/build", query={"remote": f"{base}/ctx.tar", "t": "remote-http"},
                                raw=b"")
    assert status == 200, payload
    assert not [m for m in _lines(payload) if "error" in m], payload
    assert hakod.api("GET", "/images/remote-http/json")[0] == 200
    hakod.api("DELETE", "/images/remote-http")


@pytest.mark.integration
def test_git_over_http_still_builds(hakod, http_root, tmp_path):
    root, base = http_root
    work = tmp_path / "work"
    work.mkdir()
    (work / "Dockerfile").write_text("FROM busybox\nCOPY g /g\n")
    (work / "g").write_text("git-ok\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "."], ["git", "commit", "-qm", "x"]):
        subprocess.run(cmd, cwd=work, check=True, env=env)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "repo.git")], check=True)
    subprocess.run(["git", "update-server-info"], cwd=root / "repo.git", check=True)
    status, payload = hakod.api("POST", "/build", query={"remote": f"{base}/repo.git", "t": "remote-git"},
                                raw=b"")
    assert status == 200, payload
    assert not [m for m in _lines(payload) if "error" in m], payload
    assert hakod.api("GET", "/images/remote-git/json")[0] == 200
    hakod.api("DELETE", "/images/remote-git")
