"""Resource flags: memory, swap, cpus, shares, pids, ulimits, shm size."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from hako.errors import InvalidArgument
from hako.support.units import parse_ram_size

ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


def parse_memory(text: str) -> int:
    """``-m 512m`` → bytes.

    Raises:
        InvalidArgument: not a size.
    """
    return parse_ram_size(text)


def parse_memory_swap(text: str) -> int:
    """``--memory-swap``: a size, or -1 for unlimited.

    Raises:
        InvalidArgument: not a size.
    """
    if text.strip() == "-1":
        return -1
    return parse_ram_size(text)


def parse_cpus(text: str) -> int:
    """``--cpus 1.5`` → NanoCPUs (1_500_000_000).

    Raises:
        InvalidArgument: docker's ``failed to parse … as a rational number``.
    """
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidArgument(f"failed to parse {text} as a rational number") from exc
    nano = value * Decimal(1_000_000_000)
    if nano != nano.to_integral_value():
        raise InvalidArgument("value is too precise")
    return int(nano)


def parse_ulimit(text: str) -> Ulimit:
    """``nofile=1024[:2048]`` → Ulimit (hard defaults to soft; -1 = unlimited).

    Raises:
        InvalidArgument: docker's ``invalid ulimit argument`` / ``invalid ulimit type`` texts.
    """
    name, sep, values = text.partition("=")
    if not sep:
        raise InvalidArgument(f"invalid ulimit argument: {text}")
    if name not in ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    soft_s, sep2, hard_s = values.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if sep2 else soft
    except ValueError as exc:
        raise InvalidArgument(f"invalid ulimit argument: {text}") from exc
    if soft > hard and hard != -1:
        raise InvalidArgument(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return Ulimit(name, soft, hard)


def parse_cpuset(text: str) -> list[int]:
    """``0-2,4`` → [0, 1, 2, 4].

    Raises:
        InvalidArgument: a malformed list.
    """
    out: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError as exc:
            raise InvalidArgument(f"invalid value {text} for cpuset cpus") from exc
        if b < a or a < 0:
            raise InvalidArgument(f"invalid value {text} for cpuset cpus")
        out.extend(range(a, b + 1))
    return out
