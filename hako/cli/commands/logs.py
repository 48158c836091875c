"""``logs``: a container's output, optionally followed."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from typing import Any

from hako.cli.parsing import Parser
from hako.client.streams import STDERR, FrameDecoder
from hako.errors import InvalidArgument
from hako.support.units import parse_duration


def timestamp_arg(value: str | None, now: float | None = None, name: str = "since") -> str | None:
    """docker's GetTimestamp: "10m" (relative), unix seconds, or RFC 3339 → "secs.nanos".

    Raises:
        InvalidArgument: the value is none of those.
    """
    if not value:
        return None
    now = time.time() if now is None else now
    if value.replace(".", "", 1).isdigit():
        return value
    try:
        return f"{now - parse_duration(value):.9f}"
    except InvalidArgument:
        pass
    frac = re.search(r"(?<=:\d\d)\.(\d+)", value)  # exact nanoseconds: a float loses them
    text = (value[:frac.start()] + value[frac.end():] if frac else value).replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid value for \"{name}\": failed to parse value as time or "
                              f"duration: \"{value}\"") from exc
    if dt.tzinfo is None:
        dt = dt.astimezone()
    nanos = frac.group(1)[:9].ljust(9, "0") if frac else "000000000"
    return f"{int(dt.timestamp())}.{nanos}"


def logs(ctx: Any, argv: list[str]) -> int:
    """hako logs [-f] [-t] [-n N|--tail N] [--since T] [--until T] [--details] CONTAINER"""
    p = Parser("logs", "[OPTIONS] CONTAINER")
    p.flag("-f", "--follow")
    p.flag("-t", "--timestamps")
    p.option("-n", "--tail", default="all")
    p.option("--since")
    p.option("--until")
    p.flag("--details")
    opts, args = p.parse(argv, ctx.stderr)
    p.need_args(args, exactly=1)
    info = ctx.api.containers.inspect(args[0])
    tty = bool((info.get("Config") or {}).get("Tty"))
    resp = ctx.api.containers.logs(
        info["Id"], stdout=True, stderr=True, follow=opts.follow or None,
        timestamps=opts.timestamps or None, tail=opts.tail,
        since=timestamp_arg(opts.since), until=timestamp_arg(opts.until, name="until"),
        details=opts.details or None)
    ctx.stdout.flush()
    out_fd, err_fd = ctx.stdout.fileno(), ctx.stderr.fileno()
    decoder = FrameDecoder()
    for chunk in resp.iter_chunks():
        if tty:
            os.write(out_fd, chunk)
            continue
        for stream, payload in decoder.feed(chunk):
            os.write(err_fd if stream == STDERR else out_fd, payload)
    return 0
