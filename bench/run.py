#!/usr/bin/env python3
"""hako's start-latency and memory benchmark, side by side with Docker when one answers.

    .venv/bin/python bench/run.py [-n RUNS] [--parallel-runs N] [--idle-containers K]
                                  [--with-docker] [--no-docker] [--no-podman] [--json FILE]
                                  [--shim hako|conmon|hako,conmon]

Starts a private hakod (tests/daemon_harness.py: own data root, exec root, socket, cgroup
parent; removed afterwards) with busybox imported, and measures through the docker CLI:
``run --rm busybox true``, ``create``, ``start``, 20 parallel ``run --rm`` (wall time),
the daemon's idle RSS (summed over its processes, and with each resident page counted
once) and the RSS/PSS beside each running idle container (shim plus any
runtime leftovers, from /proc/<pid>/smaps_rollup), and ``DOCKER_BUILDKIT=0 docker build``
of a 6-step Dockerfile with a 1 MB COPY, cold (``--no-cache``) and fully cached
(bench/build.py). Medians of N runs. The ``soak`` group measures the daemon's idle RSS after
a warm-up (one run, one build) and again after 100 ``run --rm`` and 20 cold builds.

``--shim`` picks hakod's per-container monitor (``hakod --shim``); with a list, each shim
gets its own private hakod and its own column, measured one after the other.

Docker is measured too when ``$DOCKER_BENCH_HOST`` (default unix:///var/run/docker.sock)
answers; no dockerd is started unless ``--with-docker`` is given, which runs Debian's
dockerd + containerd on private sockets and directories and removes them afterwards.
With ``--with-docker``, Podman gets a column too where ``podman`` is installed
(bench/podman.py: rootful, runc, storage and config in a temporary directory, its network
in a namespace of its own; ``--no-podman`` leaves it out). Podman has no daemon: no daemon
figures, no soak; per container it keeps a conmon.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench import memory, workload  # noqa: E402
from bench.workload import Target  # noqa: E402

MIB = 1024 * 1024
# figure key → (label, unit, the Docker 20.10 figure, target for hakod)
FIGURES = [
    ("run_rm", "docker run --rm busybox true", "s", 0.47, 0.12),
    ("run_rm_none", "docker run --rm --network none busybox true", "s", 0.39, None),
    # what the default bridge adds to a start (sandbox, veth, address, etc files, teardown)
    ("net_cost", "networking cost (run --rm minus --network none)", "s", 0.08, 0.030),
    ("create", "docker create busybox true", "s", None, None),
    ("start", "docker start (created, runs true)", "s", None, None),
    ("parallel", "20 x run --rm at once (wall)", "s", 3.96, 1.0),
    # user + system CPU time of the daemon's processes (hakod + zygote; dockerd + containerd)
    ("daemon_cpu", "  daemon CPU per container (20 at once)", "s", None, None),
    # RSS summed over the daemon's processes (hakod + zygote; dockerd + containerd) counts
    # the pages they share once per process: hakod and its zygote both map libpython and the
    # C library. "counted once": the distinct page frames resident in any of them (pagemap)
    ("daemon_rss", "daemon idle RSS (fresh)", "MiB", 107.0, 50.0),
    ("daemon_once", "  resident, each page counted once", "MiB", None, 50.0),
    ("daemon_rss_after", "daemon idle RSS (after the runs)", "MiB", 107.0, 50.0),
    ("daemon_once_after", "  resident, each page counted once", "MiB", None, 50.0),
    ("daemon_pss", "daemon idle PSS (fresh)", "MiB", None, None),
    # the issue: at most 50 MiB, and no growth over 10 % after 100 runs and 20 builds
    ("daemon_rss_warm", "daemon idle RSS (after 1 run + 1 build)", "MiB", 107.0, 50.0),
    ("daemon_once_warm", "  resident, each page counted once", "MiB", None, 50.0),
    ("daemon_rss_soak", "daemon idle RSS (then 100 runs + 20 builds)", "MiB", 107.0, 50.0),
    ("daemon_once_soak", "  resident, each page counted once", "MiB", None, 50.0),
    ("daemon_rss_growth", "  growth over those runs and builds", "%", None, 10.0),
    ("daemon_pss_soak", "daemon idle PSS (after the soak)", "MiB", None, None),
    ("ctr_rss", "RSS per running idle container", "MiB", 12.8, 6.4),
    ("ctr_pss", "PSS per running idle container", "MiB", None, None),
    # the figures for Debian's docker.io: legacy builder 1.43 s cold, 0.125 s cached;
    # targets: cold at most BuildKit's 0.74 s, cached at most half of BuildKit's 0.119 s
    ("build_cold", "build, 6 steps + 1 MB COPY, --no-cache", "s", 1.43, 0.74),
    ("build_cached", "build, same, fully cached", "s", 0.125, 0.06),
    # issue 8: a named volume costs at most 10 ms per run; copy-up and cp no slower than Docker
    ("run_rm_plain", "run --rm busybox true (paired)", "s", None, None),
    ("run_rm_vol", "run --rm -v vol:/data busybox true", "s", None, None),
    ("vol_overhead", "  named volume overhead per run", "s", None, 0.010),
    ("copy_up_50mb", "VOLUME copy-up of 50 MB (per run)", "s", None, None),
    ("cp_in_100mb", "docker cp 100 MB tree into a container", "s", None, None),
    ("cp_out_100mb", "docker cp 100 MB tree out of it", "s", None, None),
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--runs", type=int, default=10, help="runs per figure (median)")
    p.add_argument("--parallel-runs", type=int, default=None,
                   help="repetitions of the 20-parallel figure (default: --runs)")
    p.add_argument("--idle-containers", type=int, default=10,
                   help="idle containers started for the per-container memory figure")
    p.add_argument("--with-docker", action="store_true",
                   help="start a private dockerd + containerd when none answers")
    p.add_argument("--no-docker", action="store_true", help="measure hako only (no Docker, no Podman)")
    p.add_argument("--no-podman", action="store_true",
                   help="no Podman column even where podman is installed")
    p.add_argument("--only", default="", help="comma-separated figure groups: "
                   "run_rm,create_start,parallel,memory,build,volumes,soak")
    p.add_argument("--json", default="", help="also write the results as JSON to this file")
    p.add_argument("--shim", default="hako",
                   help="hakod's shim, or a comma-separated list for one column each: hako, conmon")
    return p.parse_args(argv)


def zygote_pid(d) -> list[int]:
    """hakod's shim zygote (a process of the daemon's footprint, as containerd is dockerd's)."""
    try:
        with open(os.path.join(d.exec_root, "zygote.json")) as f:
            return [int(json.load(f)["pid"])]
    except (OSError, ValueError, KeyError):
        return []


def ping(host: str, timeout: float = 2.0) -> int | None:
    """GET /_ping on a unix:// host; returns the server's pid (SO_PEERCRED) or None."""
    if not host.startswith("unix://"):
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(host[len("unix://"):])
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        if not s.recv(64).startswith(b"HTTP/1."):
            return None
        cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", cred)[0]
    except OSError:
        return None
    finally:
        s.close()


def cli_env(host: str, config_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DOCKER_HOST"] = host
    env.pop("DOCKER_CONTEXT", None)
    env["DOCKER_CONFIG"] = config_dir
    env["DOCKER_CLI_HINTS"] = "false"
    return env


def measure(targets: list[Target], args: argparse.Namespace) -> None:
    """Every figure group asked for, for each target. ``run --rm`` and the 20 parallel runs
    alternate between the targets (one run or repetition of each in turn: the shared
    machine's load drifts); the other groups measure one target after the other."""
    groups = set(filter(None, args.only.split(","))) or {"run_rm", "create_start", "parallel", "memory",
                                                          "build", "volumes", "soak"}
    names = ", ".join(t.name for t in targets)
    for t in targets:
        log(f"[{t.name}] idle RSS")
        workload.daemon_rss(t, "daemon_rss")
    if "run_rm" in groups:
        log(f"[{names}] run --rm x{args.runs}, alternating")
        workload.run_rm_alternating(targets, args.runs)
    if "create_start" in groups:
        for t in targets:
            log(f"[{t.name}] create/start x{args.runs}")
            workload.create_start(t, args.runs)
    if "parallel" in groups:
        reps = args.parallel_runs or args.runs
        log(f"[{names}] 20 parallel run --rm x{reps}, alternating")
        workload.parallel_alternating(targets, reps)
    for t in targets:
        measure_rest(t, args, groups)


def measure_rest(t: Target, args: argparse.Namespace, groups: set[str]) -> None:
    """The groups measured for one target at a time, then its idle RSS after them."""
    if "memory" in groups:
        log(f"[{t.name}] {args.idle_containers} idle containers")
        workload.idle_containers(t, args.idle_containers)
    daemonless = not t.daemon_pids()  # Podman: no daemon to soak, no volume figures kept
    if "soak" in groups and not daemonless:
        log(f"[{t.name}] idle RSS after 100 run --rm and 20 builds")
        workload.soak(t)
    if "build" in groups:
        from bench import build

        log(f"[{t.name}] DOCKER_BUILDKIT=0 build, cold and cached x{args.runs}")
        build.build(t, args.runs)
    if "volumes" in groups and not daemonless:
        from bench import volumes

        log(f"[{t.name}] volumes: run --rm -v, VOLUME copy-up, cp x{args.runs}")
        volumes.volumes(t, args.runs)
    wait_quiet(t)
    workload.daemon_rss(t, "daemon_rss_after")


def wait_quiet(t: Target, timeout: float = 30.0) -> None:
    """Poll until the daemon lists no containers (auto-removals finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not workload.docker(t, "ps", "-aq", check=False):
            return
        time.sleep(0.1)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value / MIB:.1f} MiB" if value > 1000 else f"{value:.1f} MiB"
    if unit == "%":
        return f"{value:+.1f} %"
    return f"{value:.3f} s"


def table(targets: list[Target], figures: list[tuple] | None = None) -> str:
    """The figures side by side; with a Docker column, also the ratio of the first hako
    column to Docker's (below 1: hako is faster or smaller)."""
    docker_t = next((t for t in targets if t.name == "docker"), None)
    hako_t = next((t for t in targets if t.name != "docker"), None)
    ratio = docker_t is not None and hako_t is not None
    head = ["figure"] + [t.name for t in targets] + (["hako/docker"] if ratio else [])
    head += ["Docker 20.10 (issue)", "target for hakod"]
    rows = [head]
    for key, label, unit, ref, goal in FIGURES if figures is None else figures:
        if not any(key in t.results for t in targets):
            continue
        row = [label] + [fmt(t.results.get(key), unit) for t in targets]
        if ratio:
            row.append(_ratio(hako_t.results.get(key), docker_t.results.get(key)))
        row += [fmt(ref, unit), "<= " + fmt(goal, unit) if goal is not None else "-"]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    for t in targets:
        if t.notes.get("parallel_hung"):
            lines.append(f"{t.name}: {t.notes['parallel_hung']}")
        if t.notes.get("ctr_procs"):
            lines.append(f"{t.name}: per-container processes counted: {t.notes['ctr_procs']}")
    return "\n".join(lines)


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or not theirs or theirs <= 0 or ours < 0:
        return "-"
    return f"{ours / theirs:.2f}"


def docker_target(start_private: bool, d) -> tuple[Target | None, object]:
    """The Docker column: the dockerd answering on ``$DOCKER_BENCH_HOST`` (default
    unix:///var/run/docker.sock), else a private one when ``start_private``, with busybox
    imported from hakod ``d``'s tar. Returns (target or None, the PrivateDocker to clean up
    or None)."""
    from bench import dockerd

    host = os.environ.get("DOCKER_BENCH_HOST", "unix:///var/run/docker.sock")
    docker_ctx = None
    if ping(host) is None:
        if not start_private:
            log(f"Docker was not found (nothing answers on {host}); measuring hako only. "
                "Use --with-docker to start a private dockerd.")
            return None, None
        docker_ctx = dockerd.PrivateDocker(bridge=True)  # networking against networking
        log(f"starting a private dockerd under {docker_ctx.root}")
        host = docker_ctx.start()
    dk = Target("docker", cli_env(host, os.path.join(d.root, "docker-config")), dockerd.pids_of(host, docker_ctx))
    try:
        dockerd.ensure_busybox(dk, os.path.join(d.root, "busybox.tar"))
    except BaseException:
        if docker_ctx is not None:
            docker_ctx.cleanup()
        raise
    return dk, docker_ctx


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    shims = [x for x in args.shim.split(",") if x] or ["hako"]
    targets: list[Target] = []
    for i, shim in enumerate(shims):
        # Docker's column is measured once, beside the first hakod (its busybox comes from it)
        targets += measure_hakod(shim, args, with_docker=i == 0 and not args.no_docker,
                                 label="hako" if shims == ["hako"] else f"hako ({shim} shim)")
    print(table(targets))
    if not any(t.name == "docker" for t in targets):
        print("Docker was not found: only hako's column was measured.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({t.name: {"results": t.results, "notes": t.notes} for t in targets}, f, indent=2)
    return 0


def measure_hakod(shim: str, args: argparse.Namespace, with_docker: bool, label: str) -> list[Target]:
    """Start a private hakod with ``shim``, measure it (and Docker beside it when asked)."""
    from tests import daemon_harness

    d = daemon_harness.new_daemon(extra_args=("--log-level", "info", "--shim", shim))
    docker_ctx = podman_ctx = None
    targets: list[Target] = []
    try:
        log(f"starting a private hakod (--shim {shim}) under {d.root}")
        d.start()
        daemon_harness.import_busybox(d)
        hako = Target(label, cli_env(d.host, os.path.join(d.root, "docker-config")),
                      lambda: [d.proc.pid, *zygote_pid(d)])
        targets.append(hako)
        dk, docker_ctx = docker_target(args.with_docker, d) if with_docker else (None, None)
        if dk is not None:
            targets.append(dk)
        if with_docker and not args.no_podman:
            from bench.podman import PrivatePodman

            if PrivatePodman.available():
                podman_ctx = PrivatePodman()
                log(f"starting Podman's column under {podman_ctx.root}")
                targets.append(podman_ctx.start(os.path.join(d.root, "busybox.tar")))
        measure(targets, args)
        if dk is not None:
            from bench import dockerd

            dockerd.drop_busybox(dk)
    finally:
        d.cleanup()
        if docker_ctx is not None:
            docker_ctx.cleanup()
        if podman_ctx is not None:
            podman_ctx.cleanup()
    return targets


if __name__ == "__main__":
    sys.exit(main())
