"""Client-side build context: .dockerignore rules, the context tar, stdin detection, params."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from hako.cli.commands import buildctx
from hako.cli.commands.build import _parser, build_params, render_build_stream
from hako.cli.commands.commit import run_to_changes
from hako.cli.main import CliError

# (patterns, path, excluded) — moby/patternmatcher semantics
CASES = [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/README.md", False),
    (["**/*.md"], "docs/a/README.md", True),
    (["**/*.md"], "README.md", True),
    (["docs"], "docs/a/b.txt", True),
    (["/docs"], "docs/x", True),
    (["docs/**"], "docs/x/y", True),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    (["docs", "!docs/keep.md"], "docs/keep.md", False),
    (["docs", "!docs/keep.md"], "docs/other.md", True),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["**"], "anything/at/all", True),
    (["**/node_modules"], "x/y/node_modules/z", True),
    (["# comment", "tmp"], "tmp", True),
    (["./build/../out"], "out/file", True),
    (["[ab].txt"], "a.txt", True),
]


@pytest.mark.parametrize("patterns,path,excluded", CASES)
def test_dockerignore_matching(patterns, path, excluded):
    m = buildctx.Matcher(buildctx.read_dockerignore("\n".join(patterns)))
    assert m.excluded(path) is excluded


def _tree(root):
    for rel, data in {"Dockerfile": b"FROM busybox\n", ".dockerignore": b"*\n!src\n!keep/a\n",
                      "src/main.c": b"int main;", "junk.o": b"x", "keep/a": b"a", "keep/b": b"b",
                      "secret/key": b"k"}.items():
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.name for m in tf.getmembers()]


def test_context_tar_keeps_build_files_and_exceptions(tmp_path):
    _tree(tmp_path)
    pats = buildctx.read_dockerignore((tmp_path / ".dockerignore").read_text())
    pats = buildctx.trim_build_files(pats, "Dockerfile", False)
    out = io.BytesIO()
    buildctx.write_context(str(tmp_path), out, pats)
    names = _names(out.getvalue())
    assert sorted(names) == [".dockerignore", "Dockerfile", "keep/a", "src", "src/main.c"]
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        assert all(m.uid == 0 and m.gid == 0 for m in tf.getmembers())


def test_dockerfile_added_under_a_random_name(tmp_path):
    _tree(tmp_path)
    out = io.BytesIO()
    buildctx.write_context(str(tmp_path), out, ["*", "!.dockerignore"])
    data, name = buildctx.add_dockerfile(out.getvalue(), b"FROM scratch\n")
    assert name.startswith(".dockerfile.") and name in _names(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        ignore = tf.extractfile(".dockerignore").read().decode()
    assert ignore.endswith(f"\n{name}\n")


def test_dockerfile_rel_path(tmp_path, monkeypatch):
    _tree(tmp_path)
    assert buildctx.dockerfile_rel_path(str(tmp_path), "") == "Dockerfile"
    monkeypatch.chdir(tmp_path / "src")
    assert buildctx.dockerfile_rel_path(str(tmp_path), "../Dockerfile") == "Dockerfile"
    with pytest.raises(Exception, match="unable to prepare context: unable to evaluate symlinks"):
        buildctx.dockerfile_rel_path(str(tmp_path), "nope")


def test_detect_archive():
    tar = buildctx.dockerfile_only_context(b"FROM busybox\n")
    assert buildctx.detect_archive(tar[:512]) and not buildctx.detect_archive(b"FROM busybox\n")
    assert buildctx.detect_archive(b"\x1f\x8b\x08...") and _names(tar) == ["Dockerfile"]
    assert buildctx.is_git_url("https://example.com/x.git") and buildctx.is_git_url("git@h:r")
    assert buildctx.is_url("http://127.0.0.1/Dockerfile")


def test_build_params():
    opts, args = _parser().parse(["-t", "a:1", "-t", "b", "--build-arg", "X=1", "--build-arg",
                                  "FROMENV", "--build-arg", "UNSET", "--label", "l=v",
                                  "--no-cache", "--target", "s1", "--network", "none", "."])
    params = build_params(opts, {"FROMENV": "e"}, "sub/Dockerfile")
    assert list(params["t"]) == ["a:1", "b"] and params["dockerfile"] == "sub/Dockerfile"
    assert params["buildargs"] == {"X": "1", "FROMENV": "e", "UNSET": None}
    assert params["labels"] == {"l": "v"} and params["nocache"] is True and params["rm"] is True
    assert params["target"] == "s1" and params["networkmode"] == "none" and args == ["."]


def _stream(*msgs):
    import json

    return [json.dumps(m).encode() + b"\r\n" for m in msgs]


def test_render_stream_and_errors():
    out, err = io.StringIO(), io.StringIO()
    image = render_build_stream(_stream({"stream": "Step 1/1 : FROM busybox\n"},
                                        {"aux": {"ID": "sha256:abc"}},
                                        {"stream": "Successfully built abc\n"}), out, False, err)
    assert image == "sha256:abc" and out.getvalue() == "Step 1/1 : FROM busybox\nSuccessfully built abc\n"
    with pytest.raises(CliError) as exc:
        render_build_stream(_stream({"stream": "Step 1/2 : RUN exit 3\n"}, {
            "errorDetail": {"code": 3, "message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"},
            "error": "The command ..."}), out, True, err)
    assert exc.value.status == 3 and "returned a non-zero code: 3" in str(exc.value)
    assert err.getvalue() == "Step 1/2 : RUN exit 3\n"


def test_run_to_changes():
    changes, rest = run_to_changes('{"Cmd": ["ls", "/etc"], "PortSpecs": ["22"], "Hostname": "h"}')
    assert changes == ['CMD ["ls", "/etc"]', "EXPOSE 22"] and rest == {"Hostname": "h"}
    with pytest.raises(CliError):
        run_to_changes("[1]")


def test_build_command_against_a_fake_daemon(tmp_path):
    """The whole client path: context upload (chunked tar), query, stream printing."""
    import http.server
    import json
    import socketserver
    import threading

    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self):
            return "fake"

        def log_message(self, *a):
            pass

        def _chunked_body(self) -> bytes:
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if not size:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()

        def do_GET(self):  # /_ping and version negotiation
            body = json.dumps({"ApiVersion": "1.41"}).encode() if "version" in self.path else b"OK"
            self.send_response(200)
            self.send_header("Api-Version", "1.41")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def do_POST(self):
            seen["path"] = self.path
            seen["type"] = self.headers.get("Content-Type")
            if self.headers.get("Transfer-Encoding") == "chunked":
                seen["body"] = self._chunked_body()
            else:
                seen["body"] = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            lines = [{"stream": "Step 1/1 : FROM busybox\n"}, {"aux": {"ID": "sha256:" + "a" * 64}},
                     {"stream": "Successfully built aaaaaaaaaaaa\n"}]
            body = b"".join(json.dumps(m).encode() + b"\r\n" for m in lines)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    sock = str(tmp_path / "fake.sock")
    server = Server(sock, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ctxdir = tmp_path / "ctx"
        ctxdir.mkdir()
        (ctxdir / "Dockerfile").write_text("FROM busybox\n")
        (ctxdir / "big").write_bytes(os.urandom(3 << 20))
        from hako.cli.main import Context, run_cli

        out, err = io.StringIO(), io.StringIO()
        env = {"DOCKER_API_VERSION": "1.41"}
        ctx = Context("", env, stdout=out, stderr=err)
        code = run_cli(["-H", "unix://" + sock, "build", "-t", "x:1", "-t", "y", "--iidfile",
                        str(tmp_path / "iid"), str(ctxdir)], env, ctx)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("Sending build context to Docker daemon  3.")
    assert "Successfully built aaaaaaaaaaaa\n" in out.getvalue()
    assert "/build?" in seen["path"] and "t=x%3A1&t=y" in seen["path"]
    assert "dockerfile=Dockerfile" in seen["path"] and seen["type"] == "application/x-tar"
    assert sorted(_names(seen["body"])) == ["Dockerfile", "big"]
    assert (tmp_path / "iid").read_text() == "sha256:" + "a" * 64
