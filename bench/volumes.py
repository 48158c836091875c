"""Volume and cp figures, the same docker CLI against each daemon:

- ``run --rm -v VOL:/data busybox true`` beside ``run --rm busybox true``, alternated so both
  see the same machine load; the figure is the median of the per-pair differences;
- ``run --rm`` of an image whose ``VOLUME /seed`` holds 50 MB (50 files of 1 MB): each run
  copies the image's content into a fresh anonymous volume (copy-up), minus the plain run;
- ``docker cp`` of a 100 MB tree (10 directories of 10 files of 1 MB) into a created
  container and back out to an empty host directory.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time

from bench.workload import Target, docker, timed

MB = 1 << 20


def _tree(root: str, dirs: int, files: int) -> None:
    rnd = random.Random(8)
    for d in range(dirs):
        os.makedirs(os.path.join(root, f"d{d}"))
        for f in range(files):
            with open(os.path.join(root, f"d{d}", f"f{f}"), "wb") as out:
                out.write(rnd.randbytes(MB))


def volumes(t: Target, n: int) -> None:
    vol = f"hako-bench-vol-{os.getpid()}"
    docker(t, "volume", "create", vol)
    try:
        docker(t, "run", "--rm", "-v", f"{vol}:/data", t.image, "true")  # warm-up
        diffs, plain, with_vol = [], [], []
        for _ in range(n):
            a = timed(lambda: docker(t, "run", "--rm", t.image, "true"))
            b = timed(lambda: docker(t, "run", "--rm", "-v", f"{vol}:/data", t.image, "true"))
            plain.append(a)
            with_vol.append(b)
            diffs.append(b - a)
        t.results["run_rm_plain"] = statistics.median(plain)
        t.results["run_rm_vol"] = statistics.median(with_vol)
        t.results["vol_overhead"] = statistics.median(diffs)
    finally:
        docker(t, "volume", "rm", "-f", vol, check=False)
    _copy_up(t, n)
    _cp(t, max(3, n // 3))


def _copy_up(t: Target, n: int) -> None:
    ctx = tempfile.mkdtemp(prefix="hako-bench-copyup-")
    tag = f"hako-bench-copyup:{os.getpid()}"
    try:
        os.makedirs(os.path.join(ctx, "seed"))
        _tree(os.path.join(ctx, "seed"), 5, 10)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(f"FROM {t.image}\nCOPY seed /seed\nVOLUME /seed\n")
        env = dict(t.env, DOCKER_BUILDKIT="0")
        import subprocess

        subprocess.run(["docker", "build", "-q", "-t", tag, ctx], env=env, check=True,
                       capture_output=True, timeout=600)
        docker(t, "run", "--rm", tag, "true")  # warm-up
        diffs = []
        for _ in range(n):
            a = timed(lambda: docker(t, "run", "--rm", t.image, "true"))
            b = timed(lambda: docker(t, "run", "--rm", tag, "true"))
            diffs.append(b - a)
        t.results["copy_up_50mb"] = statistics.median(diffs)
    finally:
        docker(t, "rmi", "-f", tag, check=False)
        shutil.rmtree(ctx, ignore_errors=True)


def _cp(t: Target, n: int) -> None:
    src = tempfile.mkdtemp(prefix="hako-bench-cp-")
    name = f"hako-bench-cp-{os.getpid()}"
    try:
        _tree(os.path.join(src, "tree"), 10, 10)
        into, out_of = [], []
        for i in range(n):
            docker(t, "create", "--name", name, t.image, "true")
            try:
                into.append(timed(lambda: docker(t, "cp", os.path.join(src, "tree"),
                                                 f"{name}:/tree")))
                dest = os.path.join(src, f"out{i}")
                os.makedirs(dest)
                out_of.append(timed(lambda: docker(t, "cp", f"{name}:/tree", dest)))
                shutil.rmtree(dest)
            finally:
                docker(t, "rm", "-f", name, check=False)
        t.results["cp_in_100mb"] = statistics.median(into)
        t.results["cp_out_100mb"] = statistics.median(out_of)
    finally:
        shutil.rmtree(src, ignore_errors=True)
