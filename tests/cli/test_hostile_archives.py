"""Black-box: the hostile-archive corpus (tests/data/hostile.py) through the real docker CLI
and through the API against every extractor of hakod: ``docker load`` (the archive itself
and a layer inside a valid archive), ``docker import``, ``docker build -`` (the context),
``ADD`` of a local tar and ``ADD`` of a URL (served on loopback; Docker does not extract
those). Whatever the daemon answers, the victim file and directory outside its data root
keep their content, mode, owner and entries, and the daemon keeps serving."""

from __future__ import annotations

import http.server
import io
import tarfile
import subprocess
import threading
import uuid

import pytest

from tests.daemon_harness import docker
from tests.data.hostile import Victims, corpus, docker_archive, entry, tar_bytes

pytestmark = pytest.mark.integration

CASES = sorted(corpus("/v", "/vd"))


@pytest.fixture(scope="module")
def victims(tmp_path_factory):
    return Victims.make(str(tmp_path_factory.mktemp("hostile-host")))


@pytest.fixture(scope="module")
def url_server():
    """A loopback HTTP server handing out whatever bytes a test put at a path."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = files.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield files, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _context(files: dict[str, bytes], extra: list | None = None) -> bytes:
    return tar_bytes((extra or []) + [entry(n, data=d) for n, d in files.items()])


def _rmi(hakod, docker_cli, ref):
    docker(hakod, docker_cli, "rmi", "-f", ref)


def _run_load(hakod, cli, data, tag, tmp):
    return docker(hakod, cli, "load", input=data, timeout=120)


def _run_load_layer(hakod, cli, data, tag, tmp):
    return docker(hakod, cli, "load", input=docker_archive(data, tag), timeout=120)


def _run_import(hakod, cli, data, tag, tmp):
    return docker(hakod, cli, "import", "-", tag, input=data, timeout=120)


def _run_build_context(hakod, cli, data, tag, tmp):
    ctx = tar_bytes(_entries(data) + [entry("Dockerfile", data=b"FROM busybox\nLABEL hostile=1\n")])
    return _build(hakod, cli, ctx, tag)


def _run_add_tar(hakod, cli, data, tag, tmp):
    ctx = _context({"Dockerfile": b"FROM busybox\nADD evil.tar /dst/\n", "evil.tar": data})
    return _build(hakod, cli, ctx, tag)


def _build(hakod, cli, ctx, tag):
    env = dict(hakod.env, DOCKER_BUILDKIT="0")
    return subprocess.run([cli, "build", "-q", "-t", tag, "-"], input=ctx,
                          capture_output=True, env=env, timeout=120)


def _entries(data: bytes) -> list:
    """The members of a corpus tar as (TarInfo, bytes), to merge into a context; a bomb's
    cut-off entry comes back as its bare header."""
    out = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tf:
            for m in tf:
                body = tf.extractfile(m).read() if m.isreg() and m.size < (1 << 20) else b""
                out.append((m, body))
    except (tarfile.TarError, EOFError):
        pass
    return out


def _run_cp(hakod, cli, data, tag, tmp):
    name = tag.replace(":", "-")
    docker(hakod, cli, "create", "--name", name, "busybox", check=True)
    try:
        return docker(hakod, cli, "cp", "-", f"{name}:/tmp", input=data, timeout=120)
    finally:
        docker(hakod, cli, "rm", "-f", name)


RUNNERS = {"load": _run_load, "load (layer)": _run_load_layer, "import": _run_import,
           "build context": _run_build_context, "ADD local tar": _run_add_tar,
           "cp (PUT archive)": _run_cp}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("caller", sorted(RUNNERS))
def test_docker_cli_corpus(hakod, docker_cli, victims, caller, case, tmp_path):
    before = victims.snapshot()
    tag = f"hostile-{uuid.uuid4().hex[:8]}:latest"
    data = tar_bytes(corpus(victims.file, victims.dir)[case])
    try:
        res = RUNNERS[caller](hakod, docker_cli, data, tag, tmp_path)
        assert victims.snapshot() == before, res.stderr.decode()
        ping = docker(hakod, docker_cli, "version", "--format", "{{.Server.Version}}")
        assert ping.returncode == 0
    finally:
        _rmi(hakod, docker_cli, tag)


@pytest.mark.parametrize("case", CASES)
def test_add_url_is_not_extracted(hakod, docker_cli, victims, url_server, case):
    files, base = url_server
    before = victims.snapshot()
    name = f"/{uuid.uuid4().hex[:8]}.tar"
    files[name] = tar_bytes(corpus(victims.file, victims.dir)[case])
    tag = f"hostile-url-{uuid.uuid4().hex[:8]}:latest"
    ctx = _context({"Dockerfile": f"FROM busybox\nADD {base}{name} /dst/\n".encode()})
    try:
        res = _build(hakod, docker_cli, ctx, tag)
        assert res.returncode == 0, res.stderr.decode()
        assert victims.snapshot() == before
        got = docker(hakod, docker_cli, "run", "--rm", tag, "wc", "-c", f"/dst{name}", check=True)
        assert got.stdout.split()[0] == str(len(files[name])).encode()
    finally:
        _rmi(hakod, docker_cli, tag)


def test_load_refuses_write_through_symlink_with_docker_error(hakod, docker_cli, victims):
    """The reported case: the archive's symlink ``x -> host file`` then a file ``x``."""
    before = victims.snapshot()
    data = tar_bytes(corpus(victims.file, victims.dir)["symlink then file of the same name"])
    res = docker(hakod, docker_cli, "load", input=data)
    assert res.returncode == 1
    assert b"neither manifest.json nor index.json" in res.stderr
    assert victims.snapshot() == before


@pytest.mark.parametrize("case", ["whiteout of dot and dotdot", "relative symlink parent",
                                  "hardlink leaving the destination"])
def test_api_import_names_the_bad_entry(hakod, victims, case):
    data = tar_bytes(corpus(victims.file, victims.dir)[case])
    status, body = hakod.api("POST", "/images/create", raw=data,
                             query={"fromSrc": "-", "repo": "hostile-api", "tag": "x"})
    assert status == 400, body
    assert "invalid tar entry" in body["message"]


def test_api_build_context_bomb_is_refused(hakod, victims):
    status, body = hakod.api("POST", "/build", raw=tar_bytes(corpus("/v", "/vd")["huge sparse file"]),
                             query={"t": "hostile-bomb"})
    text = str(body)
    assert status == 400 or "do not fit" in text, text
    assert "do not fit" in text


@pytest.mark.parametrize("dockerfile", [
    # the image's /dest/sub points at the host directory; COPY puts a directory there
    "FROM busybox\nRUN mkdir -p /dest && ln -s {vdir} /dest/sub\nCOPY tree/ /dest/\n",
    # the image's /dest/f points at the host file; COPY writes a file of that name
    "FROM busybox\nRUN mkdir -p /dest && ln -s {vfile} /dest/f\nCOPY f /dest/f\n",
    # ... and through a symlinked directory on the destination's path
    "FROM busybox\nRUN ln -s {vdir} /d\nCOPY f /d/keep\nADD f /d/new\n",
])
def test_copy_never_follows_image_symlinks_out_of_the_root(hakod, docker_cli, victims, dockerfile):
    before = victims.snapshot()
    text = dockerfile.format(vdir=victims.dir, vfile=victims.file).encode()
    ctx = _context({"Dockerfile": text, "f": b"pwned\n", "tree/sub/pwned": b"pwned\n",
                    "tree/sub/keep": b"pwned\n"})
    tag = f"hostile-copy-{uuid.uuid4().hex[:8]}:latest"
    try:
        res = _build(hakod, docker_cli, ctx, tag)
        assert victims.snapshot() == before, res.stderr.decode()
        assert res.returncode == 0, res.stderr.decode()
    finally:
        _rmi(hakod, docker_cli, tag)


@pytest.mark.parametrize("dest", ["/vd", "/vd/", "/vd/keep", "/vf", "/up/vd", "/vdrel/"])
def test_cp_never_follows_container_symlinks_out_of_the_root(hakod, docker_cli, victims, dest,
                                                             tmp_path):
    """The container's own symlinks point at the host's victims (absolute, and relative
    with more ``..`` than there are levels): docker cp into them writes inside the root."""
    before = victims.snapshot()
    name = f"hostile-cp-{uuid.uuid4().hex[:8]}"
    up = "../" * 24
    script = (f"ln -s {victims.dir} /vd && ln -s {victims.file} /vf && ln -s / /up && "
              f"ln -s {up}{victims.dir.lstrip('/')} /vdrel")
    payload = tmp_path / "keep"
    payload.write_bytes(b"pwned\n")
    docker(hakod, docker_cli, "run", "--name", name, "busybox", "sh", "-c", script, check=True)
    try:
        docker(hakod, docker_cli, "cp", str(payload), f"{name}:{dest}")
        status, _ = hakod.api("PUT", f"/containers/{name}/archive", raw=tar_bytes(
            [entry("keep", data=b"pwned"), entry("pwned", data=b"pwned")]),
            query={"path": dest})
        assert victims.snapshot() == before
        res = docker(hakod, docker_cli, "cp", f"{name}:{dest}", "-")
        assert b"precious" not in res.stdout and b"keep\n" not in res.stdout
    finally:
        docker(hakod, docker_cli, "rm", "-f", name)
