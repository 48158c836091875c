"""Sizes ("512m"), durations ("10s") and similar: parse and format like Docker (go-units)."""

from __future__ import annotations

import re

from hako.errors import InvalidArgument

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtpe]?)(i?b?)?$", re.IGNORECASE)
_MULT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5, "e": 1024**6}


def parse_ram_size(text: str) -> int:
    """Parse a binary size like Docker's ``RAMInBytes`` ("512m", "1g", "1024", "1.5GiB").

    Raises:
        InvalidArgument: the text is not a size (Docker's message: ``invalid size: '…'``).
    """
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid size: '{text}'")
    number = float(m.group(1))
    return int(number * _MULT[m.group(2).lower()])


_HUMAN_RE = re.compile(r"^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$", re.IGNORECASE)


def parse_human_size(text: str) -> int:
    """Parse a decimal size like Docker's ``FromHumanSize`` ("1k" is 1000, "20m", "1.5GB").

    Raises:
        InvalidArgument: the text is not a size (Docker's message: ``invalid size: '…'``).
    """
    m = _HUMAN_RE.match(text)
    if not m:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(float(m.group(1)) * 1000 ** " kmgtp".index((m.group(2) or " ").lower()))


def human_size(size: float, precision: int = 3) -> str:
    """Decimal human size like Docker's ``HumanSizeWithPrecision`` ("1.23MB")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000.0 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    text = f"{size:.{precision}g}"
    if "e" in text:
        text = f"{size:.0f}"
    return f"{text}{units[i]}"


_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DUR_MULT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Parse a Go duration ("1m30s", "500ms") into seconds.

    Raises:
        InvalidArgument: the text is not a duration.
    """
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    pos = 0
    total = 0.0
    for m in _DUR_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DUR_MULT[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise InvalidArgument(f'time: invalid duration "{text}"')
    return total


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration`` ("Less than a second", "2 minutes", "About an hour")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_GO_TERM = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration``: ``[-+]`` then terms like ``1h``, ``1.5s``, ``300ms``.

    Returns:
        Nanoseconds (negative when the text has a ``-`` sign).

    Raises:
        InvalidArgument: Go's texts (``time: invalid duration "x"``, ``time: missing unit in
        duration "1"``, ``time: unknown unit "d" in duration "1d"``).
    """
    quoted = f'"{text}"'
    rest, sign = text, 1
    if rest[:1] in ("-", "+"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise InvalidArgument(f"time: invalid duration {quoted}")
    total = 0
    while rest:
        m = _GO_TERM.match(rest)
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise InvalidArgument(f"time: invalid duration {quoted}")
        if not unit:
            raise InvalidArgument(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNITS:
            raise InvalidArgument(f'time: unknown unit "{unit}" in duration {quoted}')
        scale = _GO_UNITS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        rest = rest[m.end():]
    if total > 2**63 - 1:
        raise InvalidArgument(f"time: invalid duration {quoted}")
    return sign * total


def format_go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``200ms``, ``1.5s``, ``1m30s``, ``1h0m0s``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_decimal(u, 1_000)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_decimal(u, 1_000_000)}ms"
    minutes, rem = divmod(u, 60_000_000_000)
    hours, minutes = divmod(minutes, 60)
    text = f"{_decimal(rem, 1_000_000_000)}s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, rem = divmod(value, unit)
    if not rem:
        return str(whole)
    digits = str(rem).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
