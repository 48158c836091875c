#!/usr/bin/env python3
"""Throughput of a published port: the userland proxy against the DNAT path, on loopback.

    .venv/bin/python bench/ports.py [--mb 256] [-n 3] [--json FILE]

Two private hakods (tests/daemon_harness.py: own bridge and subnet, removed afterwards), one
with the userland proxy (the default) and one with ``--userland-proxy=false``. In each a
busybox container publishes port 5001, where ``nc -e`` runs ``cat >/dev/null; echo ok`` for
every connection. The client (this process) sends MB megabytes, half-closes, and waits for
the ``ok`` that proves the container read everything. Paths, medians of N runs:

- direct: to the container's own address on the daemon's bridge (no forwarding at all);
- userland proxy: 127.0.0.1:P of the proxy daemon (hakod's asyncio proxy pipes the bytes);
- DNAT, bridge address: the gateway address of the proxy daemon's bridge, port P (the
  nft DNAT rule in the output hook; the proxy is not involved);
- DNAT, 127.0.0.1: 127.0.0.1:P of the ``--userland-proxy=false`` daemon (route_localnet,
  dockerd's hairpin rules).

Every connection goes to loopback or to the bridges and containers these daemons made.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.daemon_harness import import_busybox, new_daemon  # noqa: E402

SERVER = 'while true; do nc -l -p 5001 -e sh -c "cat >/dev/null; echo ok"; done'
CHUNK = b"\0" * (1 << 20)


def send(host: str, port: int, mb: int, timeout: float = 60.0) -> float:
    """Seconds to send ``mb`` MiB and get the server's ``ok``.

    Raises:
        OSError: nothing listens, or the server did not confirm.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        t0 = time.perf_counter()
        s.connect((host, port))
        for _ in range(mb):
            s.sendall(CHUNK)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(64):
            reply += chunk
        elapsed = time.perf_counter() - t0
    if reply.strip() != b"ok":
        raise OSError(f"no confirmation from {host}:{port} ({reply!r})")
    return elapsed


def _retrying(host: str, port: int, mb: int, deadline: float = 30.0) -> float:
    """``send``, again while the container's nc is between two connections (it restarts in
    a shell loop: a refused or unconfirmed try is not timed)."""
    end = time.monotonic() + deadline
    while True:
        try:
            return send(host, port, mb)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def wait_ready(host: str, port: int, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            send(host, port, 1, timeout=5)
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def serve(d, port: int) -> dict:
    """Run the sink container publishing ``port``; its inspect data."""
    res = subprocess.run(["docker", "run", "-d", "-p", f"{port}:5001", "busybox", "sh", "-c", SERVER],
                         env=d.env, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    cid = res.stdout.strip()
    out = subprocess.run(["docker", "inspect", cid], env=d.env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(paths: dict[str, tuple[str, int]], mb: int, n: int) -> dict[str, float]:
    """MB/s per path (median of ``n`` runs), the paths taken in turn."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for name, (host, port) in paths.items():
        wait_ready(host, port)
    for _ in range(n):
        for name, (host, port) in paths.items():
            times[name].append(_retrying(host, port, mb))
    return {name: mb / statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=int, default=256, help="MiB sent per connection")
    p.add_argument("-n", type=int, default=3, help="runs per path (median)")
    p.add_argument("--json", default="")
    ns = p.parse_args(argv)
    daemons = []
    try:
        for extra in ((), ("--userland-proxy=false",)):
            daemons.append(new_daemon(extra_args=extra).start())  # started at once: the test
            import_busybox(daemons[-1])  # harness sweeps roots without a live hakod
        with_proxy, no_proxy = daemons
        p1, p2 = free_port(), free_port()
        a = serve(with_proxy, p1)["NetworkSettings"]
        serve(no_proxy, p2)
        paths = {"direct (container address)": (a["IPAddress"], 5001),
                 "userland proxy, 127.0.0.1": ("127.0.0.1", p1),
                 "DNAT, bridge address": (a["Gateway"], p1),
                 "DNAT, 127.0.0.1 (--userland-proxy=false)": ("127.0.0.1", p2)}
        rates = measure(paths, ns.mb, ns.n)
    finally:
        for d in daemons:
            d.cleanup()
    print(f"{'path':44s} {'MiB/s':>9s}")
    for name, rate in rates.items():
        print(f"{name:44s} {rate:9.0f}")
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump({"mb": ns.mb, "runs": ns.n, "mib_per_s": rates}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
