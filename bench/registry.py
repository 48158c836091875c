#!/usr/bin/env python3
"""Push and pull of a large image through hakod, against `hako registry serve` and Debian's
docker-registry (distribution 2.8), both on loopback.

    .venv/bin/python bench/registry.py [--size-mb 212] [--json FILE]

A private hakod (tests/daemon_harness.py) imports a busybox rootfs plus SIZE MB of files
(half random bytes, half compressible text, so gzip has real work). Measured with the
docker CLI, wall-clock seconds of whole commands:

- push to hako registry, first time (deterministic gzip of the layers + upload);
- push of the same image to a new repository of the same registry (layers already there);
- push to docker-registry (the compressed blobs are re-used byte for byte);
- pull into a second, empty hakod from each registry (download, verify, unpack).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.daemon_harness import new_daemon  # noqa: E402
from tests.data.rootfs import write_busybox_rootfs  # noqa: E402
from tests.registry_harness import DistributionRegistry, HakoRegistry  # noqa: E402


def make_tar(path: str, size_mb: int) -> None:
    words = b" ".join(b"layer%d data %x" % (i, i * 7919) for i in range(100_000)) + b"\n"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        write_busybox_rootfs(tf, {})
        for i in range(size_mb // 4):
            data = os.urandom(4 << 20) if i % 2 == 0 else (words * ((4 << 20) // len(words) + 1))[: 4 << 20]
            info = tarfile.TarInfo(f"data/blob{i:04d}")
            info.size, info.mtime = len(data), 1700000000
            tf.addfile(info, io.BytesIO(data))


def docker(d, *args: str) -> float:
    t0 = time.monotonic()
    res = subprocess.run(["docker", *args], env=d.env, capture_output=True, timeout=900)
    if res.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {res.stderr.decode()}")
    return time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=212)
    p.add_argument("--json", default="")
    ns = p.parse_args()
    d, d2 = new_daemon(), new_daemon()
    hreg, dreg = HakoRegistry(), DistributionRegistry()
    results: dict[str, float] = {}
    try:
        d.start()
        d2.start()
        hreg.start()
        dreg.start()
        tar = os.path.join(d.root, "big.tar")
        make_tar(tar, ns.size_mb)
        with open(tar, "rb") as f:
            status, body = d.api("POST", "/images/create", raw=f.read(), timeout=600,
                                 query={"fromSrc": "-", "repo": "big", "tag": "latest"})
        assert status == 200, body
        for host, key in ((hreg.host, "hako"), (dreg.host, "distribution")):
            docker(d, "tag", "big", f"{host}/bench/big:1")
            docker(d, "tag", "big", f"{host}/bench/big2:1")
        results["push_hako_first"] = docker(d, "push", f"{hreg.host}/bench/big:1")
        results["push_hako_again_new_repo"] = docker(d, "push", f"{hreg.host}/bench/big2:1")
        results["push_distribution"] = docker(d, "push", f"{dreg.host}/bench/big:1")
        results["pull_hako"] = docker(d2, "pull", f"{hreg.host}/bench/big:1")
        docker(d2, "rmi", f"{hreg.host}/bench/big:1")
        results["pull_distribution"] = docker(d2, "pull", f"{dreg.host}/bench/big:1")
    finally:
        for x in (hreg, dreg, d, d2):
            try:
                x.cleanup()
            except Exception:  # noqa: BLE001 - best effort teardown of the benchmark
                pass
    for k, v in results.items():
        print(f"{k:28s} {v:7.2f} s  ({ns.size_mb / v:6.1f} MB/s)")
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump({"size_mb": ns.size_mb, **results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
