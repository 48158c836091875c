"""``stats``: docker's live resource table (CPU %, memory usage / limit, net and block I/O,
PIDs), redrawn every second, or once with ``--no-stream``.

One reader thread per container follows ``GET /containers/{id}/stats`` (JSON lines, one a
second); the main thread redraws from the latest sample of each. Without CONTAINER arguments
the set follows the running containers (all with ``-a``), re-listed at each redraw.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from hako import errors
from hako.cli import formatting as fmt
from hako.cli.commands.system import bytes_size
from hako.cli.main import CliError
from hako.cli.parsing import Parser

TABLE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
         "{{.BlockIO}}\t{{.PIDs}}")
HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
           "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
           "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}


def human_size(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3): decimal units ("1.23kB", "0B")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


def cpu_percent(s: dict[str, Any]) -> float:
    """docker's calculateCPUPercentUnix."""
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - \
        (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    ncpu = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    if system > 0 and delta > 0:
        return delta / system * ncpu * 100.0
    return 0.0


def memory_usage(mem: dict[str, Any]) -> float:
    """Usage without the page cache, as docker's calculateMemUsageUnixNoCache."""
    usage = mem.get("usage") or 0
    st = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in st and st[key] < usage:
            return usage - st[key]
    return usage


def block_io(s: dict[str, Any]) -> tuple[int, int]:
    read = write = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(e.get("op", "")).lower()
        if op == "read":
            read += e.get("value", 0)
        elif op == "write":
            write += e.get("value", 0)
    return read, write


def row(ref: str, cid: str, name: str, s: dict[str, Any] | None, trunc: bool = True
        ) -> dict[str, str]:
    """One table row; ``s`` None means no sample yet (docker's "--" row)."""
    ident = cid[:12] if trunc else cid
    if not s or not s.get("read") or s["read"].startswith("0001-"):
        return {"Container": ref, "ID": ident, "Name": name or "--", "CPUPerc": "0.00%",
                "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
                "BlockIO": "0B / 0B", "PIDs": "0"}
    mem = s.get("memory_stats") or {}
    used, limit = memory_usage(mem), mem.get("limit") or 0
    nets = (s.get("networks") or {}).values()
    rx, tx = sum(n.get("rx_bytes", 0) for n in nets), sum(n.get("tx_bytes", 0) for n in nets)
    rd, wr = block_io(s)
    return {"Container": ref, "ID": ident, "Name": (s.get("name") or name).lstrip("/"),
            "CPUPerc": f"{cpu_percent(s):.2f}%",
            "MemUsage": f"{bytes_size(used)} / {bytes_size(limit)}",
            "MemPerc": f"{(used / limit * 100 if limit else 0):.2f}%",
            "NetIO": f"{human_size(rx)} / {human_size(tx)}",
            "BlockIO": f"{human_size(rd)} / {human_size(wr)}",
            "PIDs": str((s.get("pids_stats") or {}).get("current") or 0)}


class _Reader(threading.Thread):
    """Follows one container's stats stream, keeping the latest sample."""

    def __init__(self, api: Any, ref: str, stream: bool) -> None:
        super().__init__(daemon=True)
        self.api, self.ref, self.stream = api, ref, stream
        self.sample: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.first = threading.Event()

    def run(self) -> None:
        try:
            resp = self.api.containers.stats(self.ref, stream=self.stream)
            buf = b""
            for chunk in resp.iter_chunks():
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self.sample = json.loads(line)
                        self.first.set()
        except (errors.EngineError, OSError, ValueError) as exc:
            self.error = exc
        finally:
            self.first.set()
            self.done.set()


def _parser() -> Parser:
    p = Parser("stats", "[OPTIONS] [CONTAINER...]")
    p.flag("-a", "--all")
    p.option("--format")
    p.flag("--no-stream")
    p.flag("--no-trunc")
    return p


def stats(ctx: Any, argv: list[str]) -> int:
    """hako stats [-a] [--no-stream] [--no-trunc] [--format F] [CONTAINER...]"""
    p = _parser()
    opts, args = p.parse(argv, ctx.stderr)
    template = opts.format or "table"
    if template == "table":
        template = TABLE
    fmt.render(template, [], HEADERS)  # a bad template fails before anything is shown
    readers: dict[str, tuple[str, str, _Reader]] = {}

    def track(refs: list[tuple[str, str, str]]) -> None:
        for ref, cid, name in refs:
            if cid not in readers:
                r = _Reader(ctx.api, cid, not opts.no_stream)
                r.start()
                readers[cid] = (ref, name, r)
    if args:
        refs = []
        for ref in args:
            info = ctx.api.containers.inspect(ref)
            refs.append((ref, info["Id"], info.get("Name", "").lstrip("/")))
        track(refs)
    tty = ctx.stdout.isatty()
    while True:
        if not args:
            listed = ctx.api.containers.list(all=opts.all)
            alive = {c["Id"] for c in listed}
            for cid in [c for c in readers if c not in alive]:
                del readers[cid]
            track([(c["Id"][:12], c["Id"], (c.get("Names") or ["/"])[0].lstrip("/"))
                   for c in listed])
        _wait_first(readers, deadline=time.monotonic() + 5)
        _check_errors(readers, explicit=bool(args))
        rows = [row(ref, cid, name, r.sample, not opts.no_trunc)
                for cid, (ref, name, r) in readers.items()]
        text = fmt.render(template, rows, HEADERS)
        if tty and not opts.no_stream:
            text = "\033[2J\033[H" + text
        ctx.stdout.write(text)
        ctx.stdout.flush()
        if opts.no_stream:
            return 0
        time.sleep(1)  # the refresh period of docker stats, not a synchronisation


def _wait_first(readers: dict[str, Any], deadline: float) -> None:
    for _, _, r in readers.values():
        r.first.wait(max(0.0, deadline - time.monotonic()))


def _check_errors(readers: dict[str, Any], explicit: bool) -> None:
    for cid in list(readers):
        ref, _, r = readers[cid]
        if r.error is None:
            continue
        if explicit:
            from hako.client.errors import is_daemon_error

            text = str(r.error)
            raise CliError(f"Error response from daemon: {text}" if is_daemon_error(r.error)
                           else text, bare=True)
        del readers[cid]
