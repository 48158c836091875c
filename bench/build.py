"""The build benchmark: the issue's 6-step Dockerfile with a 1 MB COPY, built through the
docker CLI's legacy builder (``DOCKER_BUILDKIT=0``), cold (``--no-cache``) and fully cached.

The context lives in a temporary directory; every image a build made is removed afterwards
(by the ids ``--iidfile`` reported), so a shared dockerd keeps nothing of the benchmark.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

from bench.workload import Target

DOCKERFILE = """FROM {image}
ENV APP=/app
WORKDIR /app
COPY blob.bin /app/blob.bin
RUN wc -c /app/blob.bin > /app/size
CMD ["cat", "/app/size"]
"""
BLOB_SIZE = 1 << 20


def make_context(image: str) -> str:
    """A temporary context: the Dockerfile and a 1 MB file of seeded random bytes."""
    root = tempfile.mkdtemp(prefix="hako-bench-build-")
    with open(os.path.join(root, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE.format(image=image))
    with open(os.path.join(root, "blob.bin"), "wb") as f:
        f.write(random.Random(6).randbytes(BLOB_SIZE))
    return root


def _build(t: Target, ctx: str, tag: str, *flags: str) -> tuple[float, str]:
    """One timed ``docker build``; returns (seconds, image id)."""
    iid = os.path.join(ctx, ".iid")
    env = dict(t.env, DOCKER_BUILDKIT="0")
    t0 = time.perf_counter()
    res = subprocess.run([*t.cli, "build", "-q", "--iidfile", iid, "-t", tag, *flags, ctx], env=env,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
                         check=False)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"[{t.name}] docker build failed: {res.stderr.strip()}")
    with open(iid) as f:
        return wall, f.read().strip()


def build(t: Target, n: int) -> None:
    """Cold (``--no-cache``) and fully cached build times, medians of n each."""
    ctx = make_context(t.image)
    tag = f"hako-bench-build:{os.getpid()}"
    made: set[str] = set()
    try:
        made.add(_build(t, ctx, tag, "--no-cache")[1])  # warm-up (page cache, lazy imports)
        colds = []
        for _ in range(n):
            wall, iid = _build(t, ctx, tag, "--no-cache")
            colds.append(wall)
            made.add(iid)
        cached = []
        for _ in range(n):
            wall, iid = _build(t, ctx, tag)
            cached.append(wall)
            made.add(iid)
        t.results["build_cold"] = statistics.median(colds)
        t.results["build_cached"] = statistics.median(cached)
    finally:
        env = dict(t.env)
        subprocess.run([*t.cli, "rmi", "-f", tag], env=env, capture_output=True, check=False)
        if made:
            subprocess.run([*t.cli, "rmi", "-f", *sorted(made)], env=env, capture_output=True, check=False)
        shutil.rmtree(ctx, ignore_errors=True)
