#!/usr/bin/env python3
"""Debian's docker-compose 1.29.2 (Python, docker-py) against hakod, and against dockerd.

    .venv/bin/python bench/compose_v1.py [-n RUNS] [--with-docker] [--no-docker] [--json FILE]

A 3-service project (web, db, cache on busybox, one network, one named volume; each
service stops on SIGTERM at once, so ``down`` measures the engine, not a grace period):
``docker-compose up -d`` (network, volume, 3 containers created and started) and
``docker-compose down`` (3 stopped and removed, the network removed), wall time of the
whole command, median of N. The volume is removed untimed after each ``down`` so every
``up`` creates it. hakod is a private one (tests/daemon_harness.py); Docker is measured
when ``$DOCKER_BENCH_HOST`` (default unix:///var/run/docker.sock) answers, or with
``--with-docker`` (a private dockerd + containerd, see bench/dockerd.py). Runs of the two
daemons alternate, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.run import cli_env, docker_target, log, table  # noqa: E402
from bench.workload import Target, timed  # noqa: E402

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
PROJECT = f"hakobench{os.getpid()}"
COMPOSE_FILE = """\
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; httpd -f -p 8080 -h /www & wait"]
    depends_on: [db, cache]
    networks: [back]
  db:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes: ["data:/data"]
    networks: [back]
  cache:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
"""
# as bench/run.py's FIGURES: key, label, unit, the Docker 20.10 figure, target
FIGURES = [("up", "docker-compose up -d (3 services)", "s", 1.77, 0.9),
           ("down", "docker-compose down", "s", 1.14, 0.6)]


def compose(t: Target, workdir: str, *args: str) -> None:
    res = subprocess.run([COMPOSE, "-p", PROJECT, *args], cwd=workdir, env=t.env, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"[{t.name}] docker-compose {' '.join(args)} failed: {res.stderr.strip()}")


def one_round(t: Target, workdir: str, ups: list[float], downs: list[float]) -> None:
    ups.append(timed(lambda: compose(t, workdir, "up", "-d")))
    downs.append(timed(lambda: compose(t, workdir, "down")))
    subprocess.run(["docker", "volume", "rm", f"{PROJECT}_data"], env=t.env, capture_output=True, check=False)


def measure(targets: list[Target], runs: int, workdir: str) -> None:
    times = {t.name: ([], []) for t in targets}
    for t in targets:  # warm-up: page cache, lazy imports, the network pool
        one_round(t, workdir, [], [])
    for i in range(runs):
        for t in (targets if i % 2 == 0 else list(reversed(targets))):
            log(f"[{t.name}] round {i + 1}/{runs}")
            one_round(t, workdir, *times[t.name])
    for t in targets:
        ups, downs = times[t.name]
        t.results["up"], t.results["down"] = statistics.median(ups), statistics.median(downs)
        t.notes["runs"] = f"up {', '.join(f'{x:.2f}' for x in ups)}; down {', '.join(f'{x:.2f}' for x in downs)}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--runs", type=int, default=5, help="rounds of up -d + down (median)")
    p.add_argument("--with-docker", action="store_true", help="start a private dockerd + containerd when none answers")
    p.add_argument("--no-docker", action="store_true", help="measure hako only")
    p.add_argument("--json", default="", help="also write the results as JSON to this file")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if not os.path.exists(COMPOSE):
        sys.exit("docker-compose is not installed (make install puts Debian's docker-compose in place)")
    from bench import dockerd
    from tests import daemon_harness

    d = daemon_harness.new_daemon(extra_args=("--log-level", "info"))
    workdir = tempfile.mkdtemp(prefix="hako-bench-compose-")
    with open(os.path.join(workdir, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE_FILE)
    docker_ctx, dk, targets = None, None, []
    try:
        log(f"starting a private hakod under {d.root}")
        d.start()
        daemon_harness.import_busybox(d)
        targets.append(Target("hako", cli_env(d.host, os.path.join(d.root, "docker-config")), lambda: [d.proc.pid]))
        dk, docker_ctx = (None, None) if args.no_docker else docker_target(args.with_docker, d)
        if dk is not None:
            targets.append(dk)
        measure(targets, args.runs, workdir)
    finally:
        for t in targets:
            subprocess.run([COMPOSE, "-p", PROJECT, "down", "-v"], cwd=workdir, env=t.env, capture_output=True,
                           check=False)
        if dk is not None:
            dockerd.drop_busybox(dk)
        d.cleanup()
        if docker_ctx is not None:
            docker_ctx.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(targets, FIGURES))
    print("\n".join(f"{t.name} runs: {t.notes['runs']}" for t in targets))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({t.name: {"results": t.results, "notes": t.notes} for t in targets}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
