"""Parser for /proc/<pid>/mountinfo.

Layer: linux (2). May import: nothing internal. Format (proc(5))::

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    id parent maj:min root mountpoint options [optional...] - fstype source superoptions
"""

from __future__ import annotations

from typing import NamedTuple


class MountInfo(NamedTuple):
    """One line of mountinfo."""

    id: int
    parent: int
    major_minor: str
    root: str
    mountpoint: str
    options: str
    optional: tuple[str, ...]
    fstype: str
    source: str
    super_options: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_line(line: str) -> MountInfo:
    """Parse one mountinfo line.

    Raises:
        ValueError: the line is malformed.
    """
    head, sep, tail = line.rstrip("\n").partition(" - ")
    if not sep:
        raise ValueError(f"mountinfo: no separator in {line!r}")
    h = head.split(" ")
    t = tail.split(" ")
    if len(h) < 6 or len(t) < 3:
        raise ValueError(f"mountinfo: short line {line!r}")
    return MountInfo(int(h[0]), int(h[1]), h[2], _unescape(h[3]), _unescape(h[4]), h[5],
                     tuple(h[6:]), t[0], _unescape(t[1]), t[2])


def parse(text: str) -> list[MountInfo]:
    """Parse a whole mountinfo file's text."""
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def read(pid: int | str = "self") -> list[MountInfo]:
    """Read and parse /proc/<pid>/mountinfo."""
    with open(f"/proc/{pid}/mountinfo") as f:
        return parse(f.read())


def is_mountpoint(path: str) -> bool:
    """Whether something is mounted on ``path`` (symlinks in it resolved); False when
    mountinfo cannot be read. Raw field scan: called on container start and stop paths."""
    import os

    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(_unescape(line.split()[4]) == real for line in f)
    except OSError:
        return False
