"""The benchmark's workload, run through the docker CLI against one daemon.

Every figure is measured the same way for hakod and for dockerd: the same docker CLI
binary, only DOCKER_HOST differs. Times are wall-clock seconds of whole CLI invocations.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable

from bench import memory


@dataclass
class Target:
    """One daemon under test.

    Attributes:
        name: column title ("hako", "docker", "podman").
        env: environment for the CLI (DOCKER_HOST set).
        daemon_pids: returns the pids whose RSS is the daemon's idle footprint (none:
            a daemonless engine, whose column has no daemon figures).
        image: the busybox image reference to run.
        cli: the command line of the CLI (the docker CLI; Podman's for its column).
    """

    name: str
    env: dict[str, str]
    daemon_pids: Callable[[], list[int]]
    image: str = "busybox"
    results: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    cli: list[str] = field(default_factory=lambda: ["docker"])


def docker(t: Target, *args: str, check: bool = True, timeout: float = 120) -> str:
    """Run the docker CLI against the target and return its stdout."""
    res = subprocess.run([*t.cli, *args], env=t.env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL,
                         timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"[{t.name}] {' '.join(args)} failed ({res.returncode}): "
                           f"{res.stderr.strip()}")
    return res.stdout.strip()


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_of(n: int, fn: Callable[[], object]) -> float:
    return statistics.median(timed(fn) for _ in range(n))


def run_rm(t: Target, n: int) -> None:
    """``docker run --rm busybox true``, median of n."""
    run_rm_alternating([t], n)


def run_rm_alternating(targets: list[Target], n: int) -> None:
    """``docker run --rm busybox true`` and the same with ``--network none``, n of each per
    target, medians; one of each for every target per iteration, so that the shared
    machine's drifting load weighs on all alike."""
    runs: dict[str, tuple[list[float], list[float]]] = {}
    for t in targets:
        docker(t, "run", "--rm", t.image, "true")  # warm-up (page cache, lazy imports)
        docker(t, "run", "--rm", "--network", "none", t.image, "true")
        runs[t.name] = ([], [])
    for _ in range(n):
        for t in targets:
            bridge, none = runs[t.name]
            bridge.append(timed(lambda: docker(t, "run", "--rm", t.image, "true")))
            none.append(timed(lambda: docker(t, "run", "--rm", "--network", "none", t.image, "true")))
    for t in targets:
        bridge, none = runs[t.name]
        t.results["run_rm"] = statistics.median(bridge)
        t.results["run_rm_none"] = statistics.median(none)
        t.results["net_cost"] = statistics.median(b - o for b, o in zip(bridge, none))


def create_start(t: Target, n: int) -> None:
    """``docker create busybox true`` then ``docker start ID``, medians of n each."""
    ids: list[str] = []
    creates = []
    for _ in range(n):
        t0 = time.perf_counter()
        ids.append(docker(t, "create", t.image, "true"))
        creates.append(time.perf_counter() - t0)
    starts = [timed(lambda cid=cid: docker(t, "start", cid)) for cid in ids]
    t.results["create"] = statistics.median(creates)
    t.results["start"] = statistics.median(starts)
    for cid in ids:
        docker(t, "wait", cid, check=False)
    docker(t, "rm", "-f", *ids, check=False)


def parallel(t: Target, n: int, width: int = 20, limit: float = 60.0) -> None:
    """``width`` concurrent ``docker run --rm busybox true``: wall time until all exited.

    A CLI still running after ``limit`` seconds is killed and counted as hung; repetitions
    with a hung CLI are left out of the median (and reported in the notes).
    """
    parallel_alternating([t], n, width, limit)


def parallel_alternating(targets: list[Target], n: int, width: int = 20, limit: float = 60.0) -> None:
    """``parallel`` for several targets, one repetition of each in turn. Also records the
    daemon's CPU time per container (``daemon_cpu``: user + system time of its processes
    over the repetitions, divided by the containers run)."""
    state = {t.name: ([], [0], [], [0.0]) for t in targets}  # walls, hung, failures, daemon CPU
    for _ in range(n):
        for t in targets:
            walls, hung, failed, cpu = state[t.name]
            before = memory.cpu_seconds(t.daemon_pids())
            _parallel_once(t, width, limit, walls, hung, failed)
            cpu[0] += memory.cpu_seconds(t.daemon_pids()) - before
    for t in targets:
        walls, hung, failed, cpu = state[t.name]
        if failed:
            raise RuntimeError(f"[{t.name}] parallel run failed: {failed[0]}")
        if hung[0]:
            t.notes["parallel_hung"] = f"{hung[0]} of {n * width} parallel CLIs hung (> {limit:.0f} s)"
        if walls:
            t.results["parallel"] = statistics.median(walls)
        if t.daemon_pids():  # a daemonless engine (Podman) has no daemon CPU
            t.results["daemon_cpu"] = cpu[0] / (n * width)


def _parallel_once(t: Target, width: int, limit: float, walls: list[float], hung: list[int],
                   failed: list[str]) -> None:
    """One repetition of ``parallel``; appends its wall time unless a CLI hung."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*t.cli, "run", "--rm", t.image, "true"], env=t.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(width)]
    deadline = t0 + limit
    stuck = 0
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            stuck += 1
    wall = time.perf_counter() - t0
    failed += [p.stderr.read().decode().strip() for p in procs if p.returncode not in (0, -9)]
    for p in procs:
        p.stderr.close()
    hung[0] += stuck
    if not stuck:
        walls.append(wall)


def daemon_rss(t: Target, key: str) -> None:
    """Sum of RSS (and, as ``*_pss``, of PSS; as ``*_once``, the resident pages of all of
    them counted once) of the daemon's processes, at rest."""
    pids = t.daemon_pids()
    if not pids:  # no daemon (Podman): no daemon figures
        return
    figures = [memory.rollup(p) for p in pids]
    t.results[key] = sum(f[0] for f in figures)
    t.results[key.replace("_rss", "_pss")] = sum(f[1] for f in figures)
    t.results[key.replace("_rss", "_once")] = memory.resident_once(pids)


def settled_memory(t: Target, idle: float = 10.0, limit: float = 30.0,
                   steady: int = 3) -> tuple[int, int, int | None]:
    """The daemon's idle (RSS, PSS, pages counted once) after a burst of work: sampled every
    second from ``idle`` seconds after the burst (hakod trims its heap a few seconds after
    activity stops, see hako.daemon.memtrim; Go's runtime returns memory on its own
    schedule) until ``steady`` RSS samples in a row differ by less than 64 KiB, or ``limit``
    seconds."""
    start = time.monotonic()
    samples: list[int] = []
    while True:
        now = time.monotonic()
        if now - start >= idle:
            pids = t.daemon_pids()
            figures = [memory.rollup(p) for p in pids]
            samples.append(sum(f[0] for f in figures))
            tail = samples[-steady:]
            if len(tail) == steady and max(tail) - min(tail) < 64 * 1024 or now - start > limit:
                return samples[-1], sum(f[1] for f in figures), memory.resident_once(pids)
        time.sleep(1.0)


def soak(t: Target, runs: int = 100, builds: int = 20) -> None:
    """Idle RSS after a warm-up (one run, one build), then after ``runs`` ``run --rm`` and
    ``builds`` cold builds, and the growth between the two (the issue: at most 10 %)."""
    from bench import build

    ctx = build.make_context(t.image)
    tag = f"hako-bench-soak:{time.monotonic_ns()}"
    made: set[str] = set()
    try:
        docker(t, "run", "--rm", t.image, "true")
        made.add(build._build(t, ctx, tag, "--no-cache")[1])
        t.results["daemon_rss_warm"], _, t.results["daemon_once_warm"] = settled_memory(t)
        for i in range(max(runs, builds)):
            if i < runs:
                docker(t, "run", "--rm", t.image, "true")
            if i * builds // max(runs, 1) != (i + 1) * builds // max(runs, 1) or (runs == 0 and i < builds):
                made.add(build._build(t, ctx, tag, "--no-cache")[1])
        t.results["daemon_rss_soak"], t.results["daemon_pss_soak"], t.results["daemon_once_soak"] = \
            settled_memory(t)
        t.results["daemon_rss_growth"] = 100.0 * (t.results["daemon_rss_soak"] / t.results["daemon_rss_warm"] - 1)
    finally:
        for iid in made:
            docker(t, "rmi", "-f", iid, check=False)
        import shutil

        shutil.rmtree(ctx, ignore_errors=True)


def idle_containers(t: Target, count: int) -> None:
    """Start ``count`` idle containers and measure the per-container RSS/PSS beside them."""
    ids = [docker(t, "run", "-d", t.image, "sleep", "3600") for _ in range(count)]
    try:
        pids = [int(docker(t, "inspect", "-f", "{{.State.Pid}}", cid)) for cid in ids]
        rss, pss, names = memory.per_container_overhead(pids)
        t.results["ctr_rss"] = rss
        t.results["ctr_pss"] = pss
        t.notes["ctr_procs"] = ", ".join(names)
        daemon_rss(t, "daemon_rss_busy")
    finally:
        docker(t, "rm", "-f", *ids, check=False)
