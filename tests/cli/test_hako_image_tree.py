"""`hako images --tree` (the seed's `docker images -t`): the layer tree of local images, drawn
with rich; images built on busybox hang below busybox's layer, two of them sharing a step."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.integration
HAKO = [sys.executable, "-m", "hako.cli"]


def hako(d, *args, cwd=None):
    return subprocess.run([*HAKO, *args], capture_output=True, env=d.env, timeout=120, cwd=cwd)


@pytest.fixture
def family(hakod, tmp_path):
    tag = "tree-" + uuid.uuid4().hex[:6]
    made = []
    for name, extra in (("a", "RUN echo a > /a"), ("b", "RUN echo b > /b")):
        ctx = tmp_path / name
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN echo shared > /shared\n{extra}\n")
        res = hako(hakod, "build", "-q", "-t", f"{tag}:{name}", str(ctx))
        assert res.returncode == 0, res.stderr.decode()
        made.append(f"{tag}:{name}")
    yield tag
    for ref in made:
        hako(hakod, "rmi", "-f", ref)


def _depth(line: str) -> int:
    """Column where a node's text starts (after the tree guides)."""
    return len(line) - len(line.lstrip(" │├└─"))


def test_tree_nests_images_by_shared_layers(hakod, family):
    res = hako(hakod, "images", "--tree")
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert lines[0] == "Images" and "\x1b" not in res.stdout.decode()  # no colour without a tty
    bb = next(i for i, ln in enumerate(lines) if "busybox:latest" in ln)
    a = next(i for i, ln in enumerate(lines) if f"{family}:a" in ln)
    b = next(i for i, ln in enumerate(lines) if f"{family}:b" in ln)
    # busybox's one layer, then the shared RUN layer, then one layer each: a and b sit two
    # levels deeper than busybox, in sibling subtrees under the same shared node
    assert _depth(lines[a]) == _depth(lines[b]) == _depth(lines[bb]) + 8
    shared = [i for i in range(bb + 1, min(a, b)) if _depth(lines[i]) == _depth(lines[bb])]
    assert len(shared) == 1  # one node for the shared step, under busybox's layer
    assert "├──" in res.stdout.decode() and "└──" in res.stdout.decode()


def test_seed_spelling_and_refusals(hakod, family):
    res = hako(hakod, "images", "-t")
    assert res.returncode == 0
    assert "Warning: '-t' is deprecated, it will be replaced by '--tree' soon." in res.stderr.decode()
    assert f"{family}:a" in res.stdout.decode()
    res = hako(hakod, "images", "--tree", "-q")
    assert res.returncode == 125 and "--tree cannot be combined with --quiet" in res.stderr.decode()
