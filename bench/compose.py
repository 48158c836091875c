#!/usr/bin/env python3
"""``up -d`` and ``down`` of a 3-service compose project (web, db, cache on busybox, one
network, one volume), side by side:

    .venv/bin/python bench/compose.py [-n RUNS] [--with-docker] [--no-docker] [--json FILE]

Columns: ``hako compose`` on a private hakod (tests/daemon_harness.py, removed afterwards);
Debian's ``docker-compose`` (1.29) on the same hakod when it is installed; and, when a
dockerd answers on ``$DOCKER_BENCH_HOST`` (or ``--with-docker`` starts a private one, see
bench/dockerd.py), ``docker-compose`` and ``hako compose`` on dockerd. Medians of N runs
(one warm-up each). The issue's figures: docker-compose on Docker 20.10 takes 1.77 s for
``up -d`` and 1.14 s for ``down``; the targets are 0.9 s and 0.6 s.
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
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.run import cli_env, log, ping  # noqa: E402

PROJECT = """services:
  web:
    image: busybox
    command: sleep 1000
    init: true
    depends_on: [db, cache]
    ports: ["127.0.0.1::8000"]
    networks: [app]
  db:
    image: busybox
    command: sleep 1000
    init: true
    volumes: [dbdata:/data]
    networks: [app]
  cache:
    image: busybox
    command: sleep 1000
    init: true
    networks: [app]
networks:
  app: {}
volumes:
  dbdata: {}
"""
# docker-compose 1.29 reads the v2/v3 format (it refuses compose.yaml's versionless form)
PROJECT_V3 = "version: '3.7'\n" + PROJECT
FIGURES = [("up", "up -d (3 services, 1 network, 1 volume)", 1.77, 0.9),
           ("down", "down -v", 1.14, 0.6)]


def hako_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hako.cli", "compose", *args]


def measure(name: str, cmd, env: dict[str, str], workdir: str, runs: int) -> dict[str, float]:
    """Median wall times of ``up -d`` and ``down -v`` (after one warm-up of each)."""
    ups, downs = [], []
    for i in range(runs + 1):
        t0 = time.monotonic()
        _run(cmd("up", "-d"), env, workdir)
        t1 = time.monotonic()
        _run(cmd("down", "-v"), env, workdir)
        t2 = time.monotonic()
        if i:
            ups.append(t1 - t0)
            downs.append(t2 - t1)
    log(f"[{name}] up {statistics.median(ups):.3f} s, down {statistics.median(downs):.3f} s")
    return {"up": statistics.median(ups), "down": statistics.median(downs)}


def _run(cmd: list[str], env: dict[str, str], cwd: str) -> None:
    res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=300)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr}")


def table(columns: dict[str, dict[str, float]]) -> str:
    head = ["figure", *columns, "Docker 20.10 (issue)", "target"]
    rows = [head]
    for key, label, ref, goal in FIGURES:
        rows.append([label] + [f"{c[key]:.3f} s" for c in columns.values()]
                    + [f"{ref:.2f} s", f"<= {goal:.2f} s"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--runs", type=int, default=5)
    p.add_argument("--with-docker", action="store_true")
    p.add_argument("--no-docker", action="store_true")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    from tests import daemon_harness

    work = tempfile.mkdtemp(prefix="hako-bench-compose-")
    d = daemon_harness.new_daemon(extra_args=("--log-level", "info"))
    docker_ctx = None
    columns: dict[str, dict[str, float]] = {}
    dc = shutil.which("docker-compose")
    try:
        for sub, text in (("hako", PROJECT), ("v3", PROJECT_V3)):
            os.makedirs(os.path.join(work, sub, "bench"))
            with open(os.path.join(work, sub, "bench", "compose.yaml"), "w") as f:
                f.write(text)
            if sub == "v3":
                os.rename(os.path.join(work, sub, "bench", "compose.yaml"),
                          os.path.join(work, sub, "bench", "docker-compose.yml"))
        hako_dir = os.path.join(work, "hako", "bench")
        v3_dir = os.path.join(work, "v3", "bench")
        log(f"starting a private hakod under {d.root}")
        d.start()
        daemon_harness.import_busybox(d)
        env = cli_env(d.host, os.path.join(d.root, "docker-config"))
        env["HAKO_HOST"] = d.host
        columns["hako compose / hakod"] = measure("hako compose / hakod", hako_cmd, env,
                                                  hako_dir, args.runs)
        if dc:
            columns["docker-compose / hakod"] = measure(
                "docker-compose / hakod", lambda *a: [dc, *a], env, v3_dir, args.runs)
        if not args.no_docker:
            from bench import dockerd
            from bench.workload import Target

            host = os.environ.get("DOCKER_BENCH_HOST", "unix:///var/run/docker.sock")
            if ping(host) is None and args.with_docker:
                docker_ctx = dockerd.PrivateDocker()
                host = docker_ctx.start()
            if ping(host) is not None:
                denv = cli_env(host, os.path.join(d.root, "docker-config"))
                denv["HAKO_HOST"] = host
                dk = Target("docker", denv, dockerd.pids_of(host, docker_ctx))
                dockerd.ensure_busybox(dk, os.path.join(d.root, "busybox.tar"))
                if dc:
                    columns["docker-compose / dockerd"] = measure(
                        "docker-compose / dockerd", lambda *a: [dc, *a], denv, v3_dir,
                        args.runs)
                columns["hako compose / dockerd"] = measure(
                    "hako compose / dockerd", hako_cmd, denv, hako_dir, args.runs)
                dockerd.drop_busybox(dk)
            else:
                log(f"Docker was not found (nothing answers on {host}): no dockerd columns")
    finally:
        d.cleanup()
        if docker_ctx is not None:
            docker_ctx.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print(table(columns))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(columns, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
