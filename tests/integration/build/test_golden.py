"""Golden Dockerfiles (tests/data/dockerfiles/<case>/), built with the real docker CLI's
legacy builder (``DOCKER_BUILDKIT=0 docker build``) against hakod and compared with Docker.

What is compared, for the final image (and each ONBUILD parent):

- the file tree, as the change against the ``busybox`` base image of the same daemon
  (``docker export`` of a created container, minus the base's export): path → type, mode,
  uid/gid, symlink target, sha256 of the content; mtimes are ignored;
- the config fields Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels,
  StopSignal, Healthcheck, OnBuild, Shell, and the history entries above the base image's
  (``created_by`` and ``empty_layer``, from ``docker save``);
- lines the build output must contain.

When a dockerd answers on ``$HAKO_GOLDEN_DOCKER`` (default ``unix:///var/run/docker.sock``)
each case is also built there and the two results are compared live; otherwise the
recorded ``expected.json`` (recorded from Debian's docker.io 20.10, see the README beside the
cases) is the reference. A case with ``"docker_legacy": false`` uses syntax Docker's legacy
builder rejects (heredocs are BuildKit-only in 20.10): it is always checked against its
expectations, which were reviewed by hand. The test never starts a dockerd. With ``HAKO_GOLDEN_RECORD=1`` and a
dockerd answering, Docker's results are written back into the ``expected.json`` files.
A reference dockerd without ``busybox:latest`` gets hako's test busybox imported (and
removed again afterwards).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "dockerfiles"
CASES = sorted(p.name for p in DATA.iterdir() if (p / "expected.json").exists())
CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
               "StopSignal", "Healthcheck", "OnBuild", "Shell")
RECORD_KEYS = ("tree", "removed", "config", "history", "stream_contains")


# -- daemons and CLI --------------------------------------------------------------------

def answers(host: str) -> bool:
    """True when a Docker API answers GET /_ping on the unix:// host."""
    if not host.startswith("unix://"):
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(host[len("unix://"):])
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        return s.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False
    finally:
        s.close()


class Daemon:
    """One daemon seen through the docker CLI and docker-py."""

    def __init__(self, host: str, cli: str, config_dir: str) -> None:
        docker = pytest.importorskip("docker")
        self.host, self.cli = host, cli
        self.env = dict(os.environ, DOCKER_HOST=host, DOCKER_BUILDKIT="0", DOCKER_CONFIG=config_dir,
                        DOCKER_CLI_HINTS="false")
        self.env.pop("DOCKER_CONTEXT", None)
        self.api = docker.APIClient(base_url=host, version="1.41", timeout=120)
        self._base: dict | None = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([self.cli, *args], capture_output=True, text=True, env=self.env,
                             stdin=subprocess.DEVNULL, timeout=180)
        assert not check or res.returncode == 0, f"docker {' '.join(args)}: {res.stdout}{res.stderr}"
        return res

    def build(self, ctx: str, tag: str, buildargs: dict) -> tuple[str, str]:
        """DOCKER_BUILDKIT=0 docker build; returns (image id, build output)."""
        iid = os.path.join(tempfile.mkdtemp(), "iid")
        try:
            args = ["build", "--iidfile", iid, "-t", tag]
            for k, v in buildargs.items():
                args += ["--build-arg", f"{k}={v}"]
            res = self.run(*args, ctx)
            return Path(iid).read_text().strip(), res.stdout + res.stderr
        finally:
            shutil.rmtree(os.path.dirname(iid), ignore_errors=True)

    def export(self, image: str) -> dict[str, dict]:
        """path → entry of the image's filesystem (create + export)."""
        cid = self.api.create_container(image, command=["true"])["Id"]
        try:
            data = b"".join(self.api.export(cid))
        finally:
            self.api.remove_container(cid, force=True)
        return tree_of(data)

    def base(self) -> dict[str, dict]:
        if self._base is None:
            self._base = self.export("busybox:latest")
        return self._base

    def result(self, image: str) -> dict:
        """The comparable record of an image: tree change, config, history."""
        tree = self.export(image)
        base = self.base()
        changed = {p: e for p, e in tree.items() if base.get(p) != e}
        config = self.api.inspect_image(image)["Config"] or {}
        return {"tree": changed, "removed": sorted(p for p in base if p not in tree),
                "config": {k: config.get(k) for k in CONFIG_KEYS},
                "history": history_of(self.api, image)[len(history_of(self.api, "busybox:latest")):]}


def tree_of(data: bytes) -> dict[str, dict]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf:
            entry = {"type": {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.DIRTYPE: "d",
                              tarfile.SYMTYPE: "l", tarfile.LNKTYPE: "h", tarfile.CHRTYPE: "c",
                              tarfile.BLKTYPE: "b", tarfile.FIFOTYPE: "p"}.get(m.type, "?"),
                     "mode": oct(m.mode & 0o7777)[2:].zfill(4), "uid": m.uid, "gid": m.gid}
            if m.issym() or m.islnk():
                entry["link"] = m.linkname
            if m.isfile():
                data = tf.extractfile(m).read()
                entry["sha256"] = hashlib.sha256(data).hexdigest()
                if len(data) <= 256 and data.isascii():
                    entry["content"] = data.decode()  # readable in expected.json
            out["/" + m.name.lstrip("./").rstrip("/")] = entry
    return out


def history_of(api, image: str) -> list[list]:
    """[created_by, empty_layer] of each history entry, from the saved image config."""
    data = b"".join(api.get_image(image))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        config = json.load(tf.extractfile(manifest[0]["Config"]))
    return [[h.get("created_by", ""), bool(h.get("empty_layer", False))] for h in config.get("history", [])]


@pytest.fixture(scope="module")
def reference(docker_cli, hakod):
    """The live dockerd to compare with, or None (then expected.json is the reference)."""
    host = os.environ.get("HAKO_GOLDEN_DOCKER", "unix:///var/run/docker.sock")
    if not answers(host):
        yield None
        return
    cfg = tempfile.mkdtemp(prefix="hako-golden-cfg-")
    ref = Daemon(host, docker_cli, cfg)
    imported = ref.run("image", "inspect", "busybox:latest", check=False).returncode != 0
    try:
        if imported:
            ref.run("import", "--change", 'CMD ["sh"]', os.path.join(hakod.root, "busybox.tar"),
                    "busybox:latest")
        yield ref
    finally:
        if imported:
            ref.run("rmi", "busybox:latest", check=False)
        shutil.rmtree(cfg, ignore_errors=True)


@pytest.fixture(scope="module")
def ours(docker_cli, hakod):
    return Daemon(hakod.host, docker_cli, os.path.join(hakod.root, "docker-config"))


# -- the case's inputs ------------------------------------------------------------------

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
    """A deterministic .tar.gz (fixed gzip mtime) with one file owned by 1000:1000."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"inside the tar\n"
        info = tarfile.TarInfo("dir/inner.txt")
        info.size, info.uid, info.gid, info.mode, info.mtime = len(data), 1000, 1000, 0o644, 1700000000
        tf.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        gz.write(buf.getvalue())


def build_case(d: Daemon, ctx_root: str, expected: dict, url: str, tags: list) -> tuple[list, dict]:
    """Build the parents then the case on one daemon; returns ([parent results], result)."""
    parents = []
    for parent in expected.get("parents", []):
        pid, _ = d.build(os.path.join(ctx_root, parent["dir"]), parent["tag"], {})
        tags.append(parent["tag"])
        parents.append(d.result(pid))
    buildargs = {k: v.replace("{url}", url) for k, v in expected.get("buildargs", {}).items()}
    tag = f"golden-{os.path.basename(ctx_root)}-{os.getpid()}"
    image_id, out = d.build(os.path.join(ctx_root, expected.get("dir", "")), tag, buildargs)
    tags.append(tag)
    result = d.result(image_id)
    result["history"] = [[c.replace(url, "{url}"), e] for c, e in result["history"]]
    result["stream_contains"] = [s for s in expected.get("stream_contains", []) if s in out]
    return parents, result


def compare(mine: dict, theirs: dict, what: str) -> None:
    """Assert two results are the same, naming the first differences."""
    diffs = []
    for p in sorted(set(mine["tree"]) | set(theirs["tree"])):
        if mine["tree"].get(p) != theirs["tree"].get(p):
            diffs.append(f"{p}: hako {mine['tree'].get(p)} docker {theirs['tree'].get(p)}")
    for key in ("removed", "history", "stream_contains"):
        if mine.get(key) != theirs.get(key):
            diffs.append(f"{key}: hako {mine.get(key)} docker {theirs.get(key)}")
    for key in CONFIG_KEYS:
        if mine["config"].get(key) != theirs["config"].get(key):
            diffs.append(f"Config.{key}: hako {mine['config'].get(key)!r} docker {theirs['config'].get(key)!r}")
    assert not diffs, f"{what} differs from Docker:\n" + "\n".join(diffs)


def record(case: str, expected: dict, parents: list, result: dict) -> None:
    for parent, got in zip(expected.get("parents", []), parents):
        parent.update({k: got[k] for k in RECORD_KEYS if k in got and k != "stream_contains"})
    expected.update({k: result[k] for k in RECORD_KEYS})
    (DATA / case / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def run_case(d: Daemon, case: str, expected: dict, served, tags: list) -> tuple[list, dict]:
    tmp = tempfile.mkdtemp(prefix="hako-golden-")
    try:
        ctx_root = os.path.join(tmp, case)
        shutil.copytree(DATA / case, ctx_root, symlinks=True)
        os.unlink(os.path.join(ctx_root, "expected.json"))
        if expected.get("generate") == "tar":
            make_tar(os.path.join(ctx_root, "files.tar.gz"))
        serve_dir, url = served
        for name, text in expected.get("serve", {}).items():
            Path(serve_dir, name).write_text(text)
        return build_case(d, ctx_root, expected, url, tags)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_tags(d: Daemon, tags: list) -> None:
    for t in reversed(tags):
        d.run("rmi", "-f", t, check=False)


@pytest.mark.parametrize("case", CASES)
def test_golden(ours, reference, served, case):
    expected = json.loads((DATA / case / "expected.json").read_text())
    mine_tags, ref_tags = [], []
    try:
        parents, result = run_case(ours, case, expected, served, mine_tags)
        if reference is not None and expected.get("docker_legacy", True):
            ref_parents, ref_result = run_case(reference, case, expected, served, ref_tags)
            if os.environ.get("HAKO_GOLDEN_RECORD"):
                record(case, expected, ref_parents, ref_result)
        else:
            if os.environ.get("HAKO_GOLDEN_RECORD") and not expected.get("docker_legacy", True):
                record(case, expected, parents, result)  # to be reviewed by hand
            ref_parents, ref_result = expected.get("parents", []), expected
        for i, (mine, theirs) in enumerate(zip(parents, ref_parents)):
            compare(mine, theirs, f"{case} parent {i}")
        compare(result, ref_result, case)
    finally:
        remove_tags(ours, mine_tags)
        if reference is not None:
            remove_tags(reference, ref_tags)
