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
