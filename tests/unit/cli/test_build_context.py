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
