"""``update``: change the resources and restart policy of containers (``POST /update``).

Only the flags given are sent (docker sends zero values for the others, which the daemon
reads as "unchanged"); the daemon refuses what it cannot apply with a 400.
"""

from __future__ import annotations

from typing import Any

from hako.cli.commands import for_each
from hako.cli.main import CliError
from hako.cli.parsing import Parser, go_int
from hako.cli.runconfig import _typed
from hako.opts import resources, restart

# flag dest → HostConfig field
FIELDS = {"blkio_weight": "BlkioWeight", "cpu_period": "CpuPeriod", "cpu_quota": "CpuQuota",
          "cpu_rt_period": "CpuRealtimePeriod", "cpu_rt_runtime": "CpuRealtimeRuntime",
          "cpu_shares": "CpuShares", "cpus": "NanoCpus", "cpuset_cpus": "CpusetCpus",
          "cpuset_mems": "CpusetMems", "memory": "Memory",
          "memory_reservation": "MemoryReservation", "memory_swap": "MemorySwap",
          "pids_limit": "PidsLimit"}


def _parser() -> Parser:
    p = Parser("update", "[OPTIONS] CONTAINER [CONTAINER...]")
    p.option("--blkio-weight", type=go_int)
    p.option("--cpu-period", type=go_int)
    p.option("--cpu-quota", type=go_int)
    p.option("--cpu-rt-period", type=go_int)
    p.option("--cpu-rt-runtime", type=go_int)
    p.option("-c", "--cpu-shares", type=go_int)
    p.option("--cpus", type=_typed(resources.parse_cpus))
    p.option("--cpuset-cpus")
    p.option("--cpuset-mems")
    p.option("-m", "--memory", type=_typed(resources.parse_memory))
    p.option("--memory-reservation", type=_typed(resources.parse_memory))
    p.option("--memory-swap", type=_typed(resources.parse_memory_swap))
    p.option("--pids-limit", type=go_int)
    p.option("--restart", type=_typed(restart.parse))
    return p


def body_of(opts: Any) -> dict[str, Any]:
    """The update body of the flags given."""
    body: dict[str, Any] = {field: getattr(opts, dest) for dest, field in FIELDS.items()
                            if getattr(opts, dest) is not None}
    if opts.restart is not None:
        body["RestartPolicy"] = {"Name": opts.restart.name,
                                 "MaximumRetryCount": opts.restart.maximum_retry_count}
    return body


def update(ctx: Any, argv: list[str]) -> int:
    """hako update [OPTIONS] CONTAINER..."""
    p = _parser()
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, at_least=1)
    body = body_of(opts)
    if not body:
        raise CliError("you must provide one or more flags when using this command", bare=True)

    def one(ref: str) -> None:
        for w in (ctx.api.containers.update(ref, body) or {}).get("Warnings") or []:
            ctx.err(w)
    return for_each(ctx, args, one)
