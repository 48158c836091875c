#!/usr/bin/env python3
"""Push and pull of a large one-layer image over loopback: hakod, podman and Debian's dockerd
as clients; `hako registry serve` and Debian's docker-registry (distribution 2.8) as servers.

    .venv/bin/python bench/registry.py [--size-mb 212] [-n RUNS] [--with-docker] [--no-podman]
                                       [--json FILE]

The image is a busybox rootfs plus SIZE MB of files (half random bytes, half compressible
text, so gzip has real work), imported into hakod. Every figure is the wall-clock time of a
whole CLI command (docker CLI for hakod and dockerd, podman's own), median of N rounds; the
order of the two servers alternates between rounds. Each figure starts from the same state:

- push, compress + upload: a freshly imported image (hakod: fresh daemon, no compressed blob
  kept yet; podman and dockerd: the image as they pulled it; both compress on every push to
  a registry that does not hold the blob) to a fresh, empty registry;
- push, upload only (hakod): the compressed blob kept by the push above, to another fresh
  registry (podman and dockerd keep no compressed blobs: they have no such figure);
- pull: into an empty store (a fresh hakod, a fresh podman root; dockerd after removing
  every image, with the store checked empty) from a registry that got the image by a push
  of hakod: both servers serve the very same bytes.

The rows "hako serve / distribution" are the median, over the rounds, of each round's
figure against `hako registry serve` divided by its figure against distribution, for the
same client: below 1.00 the hako server is faster.
The load average before and after is printed (other work on the machine skews figures).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.regclients import Docker, Hako, Podman  # noqa: E402
from tests.data.rootfs import write_busybox_rootfs  # noqa: E402
from tests.registry_harness import DistributionRegistry, HakoRegistry  # noqa: E402

SERVERS = ("hako", "distribution")
ROWS = [("push_full", "push, compress + upload"), ("push_upload", "push, upload only"),
        ("pull", "pull into an empty store")]
IMAGE = "bench/big:1"


def make_tar(path: str, size_mb: int) -> None:
    words = b" ".join(b"layer%d data %x" % (i, i * 7919) for i in range(100_000)) + b"\n"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        write_busybox_rootfs(tf, {})
        for i in range(size_mb // 4):
            data = os.urandom(4 << 20) if i % 2 == 0 else (words * ((4 << 20) // len(words) + 1))[: 4 << 20]
            info = tarfile.TarInfo(f"data/blob{i:04d}")
            info.size, info.mtime = len(data), 1700000000
            tf.addfile(info, io.BytesIO(data))


def new_registry(server: str):
    return (HakoRegistry() if server == "hako" else DistributionRegistry()).start()


class Round:
    """One round of every figure; ``results[(figure, client, server)]`` in seconds."""

    def __init__(self, tar: str, order: tuple[str, str], podman: bool, docker: Docker | None) -> None:
        self.tar, self.order, self.podman, self.docker = tar, order, podman, docker
        self.results: dict[tuple[str, str, str], float] = {}
        self.owned: list = []  # registries and clients to clean up

    def _own(self, x):
        self.owned.append(x)
        return x

    def _drop(self, x) -> None:
        self.owned.remove(x)
        x.cleanup()

    def run(self) -> dict[tuple[str, str, str], float]:
        try:
            sources = self._hako_pushes()
            self._pulls(sources)
        finally:
            for x in reversed(self.owned):
                try:
                    x.cleanup()
                except Exception as exc:  # noqa: BLE001 - keep cleaning up the rest
                    print(f"cleanup of {x!r} failed: {exc}", file=sys.stderr)
        return self.results

    def _hako_pushes(self) -> dict[str, object]:
        """hakod pushes; returns the registries (by server) holding the image, for the pulls."""
        sources: dict[str, object] = {}
        keeper = None
        for server in self.order:
            h = self._own(Hako())
            h.import_tar(self.tar, "big")
            reg = sources[server] = self._own(new_registry(server))
            self.results[("push_full", "hako", server)] = h.push("big", f"{reg.host}/{IMAGE}")
            if keeper is None:
                keeper = h
            else:
                self._drop(h)
        for server in self.order:  # the compressed blob is kept now: upload only
            reg = self._own(new_registry(server))
            self.results[("push_upload", "hako", server)] = keeper.push("big", f"{reg.host}/{IMAGE}")
            self._drop(reg)
        self._drop(keeper)
        return sources

    def _pulls(self, sources: dict[str, object]) -> None:
        for server in self.order:
            ref = f"{sources[server].host}/{IMAGE}"
            h = self._own(Hako())
            self.results[("pull", "hako", server)] = h.pull(ref)
            self._drop(h)
            if self.podman:
                p = self._own(Podman())
                self.results[("pull", "podman", server)] = p.pull(ref)
                self._push_from(p, ref)
                self._drop(p)
            if self.docker is not None:
                self.results[("pull", "docker", server)] = self.docker.pull(ref)
                self._push_from(self.docker, ref)

    def _push_from(self, client, src: str) -> None:
        """Compress + upload by ``client`` (it pulled ``src``) to a fresh registry of the
        server of this pull's turn (each client pushes once per server per round)."""
        server = self.order[sum(1 for k in self.results if k[:2] == ("push_full", client.name))]
        reg = self._own(new_registry(server))
        self.results[("push_full", client.name, server)] = client.push(src, f"{reg.host}/{IMAGE}")
        self._drop(reg)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def table(rounds: list[dict], size_mb: int, clients: list[str]) -> str:
    def med(fig: str, client: str, server: str) -> float | None:
        xs = [r[(fig, client, server)] for r in rounds if (fig, client, server) in r]
        return statistics.median(xs) if xs else None

    def paired(fig: str, client: str) -> float | None:
        """The median of the rounds' own ratios: a round's two figures share its machine
        state (pulls here take either ~0.8 or ~1.2 s, whichever server), a median of each
        column does not."""
        keys = ((fig, client, "hako"), (fig, client, "distribution"))
        xs = [r[keys[0]] / r[keys[1]] for r in rounds if keys[0] in r and keys[1] in r]
        return statistics.median(xs) if xs else None

    def cell(v: float | None, ratio: bool = False) -> str:
        if v is None:
            return f"{'-':>18}"
        return f"{v:>18.2f}" if ratio else f"{v:7.2f} s {size_mb / v:5.0f} MB/s"

    lines = [f"{size_mb} MB image, medians of {len(rounds)} rounds (wall clock of the CLI command)",
             f"{'':44}" + "".join(f"{c:>18}" for c in clients)]
    for fig, label in ROWS:
        for server in SERVERS:
            lines.append(f"{label + ' ' + ('→' if fig != 'pull' else '←') + ' ' + server:44}"
                         + "".join(cell(med(fig, c, server)) for c in clients))
        ratios = [cell(paired(fig, c), ratio=True) for c in clients]
        lines.append(f"{'  hako serve / distribution':44}" + "".join(ratios))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=212)
    p.add_argument("-n", "--runs", type=int, default=3, help="rounds (medians are printed)")
    p.add_argument("--with-docker", action="store_true", help="also measure a private dockerd")
    p.add_argument("--no-podman", action="store_true", help="leave podman out even if installed")
    p.add_argument("--json", default="")
    ns = p.parse_args()
    podman = not ns.no_podman and Podman.available()
    clients = ["hako"] + (["podman"] if podman else []) + (["docker"] if ns.with_docker else [])
    work = tempfile.mkdtemp(prefix="hako-bench-registry-", dir="/tmp")
    docker = None
    rounds: list[dict] = []
    load = [loadavg()]
    try:
        tar = os.path.join(work, "big.tar")
        make_tar(tar, ns.size_mb)
        docker = Docker() if ns.with_docker else None
        for i in range(ns.runs):
            order = SERVERS if i % 2 == 0 else SERVERS[::-1]
            rounds.append(Round(tar, order, podman, docker).run())
            print(f"round {i + 1}: " + ", ".join(f"{'/'.join(k)} {v:.2f}" for k, v in rounds[-1].items()),
                  file=sys.stderr, flush=True)
    finally:
        if docker is not None:
            docker.cleanup()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    load.append(loadavg())
    print(table(rounds, ns.size_mb, clients))
    print(f"load average before {load[0]}, after {load[1]}")
    if not podman:
        print("podman was not measured (not installed, or --no-podman)")
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump({"size_mb": ns.size_mb, "load": load,
                       "rounds": [{"/".join(k): v for k, v in r.items()} for r in rounds]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
