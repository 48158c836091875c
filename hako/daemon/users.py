"""Resolve Docker's ``--user`` value against a container rootfs's /etc/passwd and /etc/group.

Forms: ``uid``, ``name``, ``uid:gid``, ``name:group``, ``uid:group`` … like Docker (moby/sys/user).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from hako.errors import InvalidArgument


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


def _read(rootfs: str, name: str) -> list[list[str]]:
    """Entries of the rootfs's /etc/<name>, resolved inside the rootfs (an image's
    ``/etc/passwd -> /host/file`` symlink must not read the host's file); only a regular
    file is read (a FIFO there would block the daemon)."""
    from hako.errors import InvalidArgument
    from hako.support.fsroot import open_in_root

    try:
        fd = open_in_root(rootfs, "etc/" + name, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, InvalidArgument):
        return []
    with os.fdopen(fd, "r", errors="replace") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]


def resolve(rootfs: str, spec: str, group_add: list[str] | tuple[str, ...] = ()) -> ExecUser:
    """Resolve ``spec`` (empty means root) inside ``rootfs``.

    Raises:
        InvalidArgument: a named user or group does not exist, with Docker's texts
            ``unable to find user NAME: no matching entries in passwd file``.
    """
    user_part, _, group_part = (spec or "0").partition(":")
    passwd = _read(rootfs, "passwd")
    groups = _read(rootfs, "group")
    uid, gid, home, name = None, None, "/", None
    for ent in passwd:
        if len(ent) >= 6 and (ent[0] == user_part or ent[2] == user_part):
            name, uid, gid, home = ent[0], int(ent[2]), int(ent[3]), ent[5]
            break
    if uid is None:
        if not user_part.isdigit():
            raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
        uid, gid = int(user_part), 0
    if group_part:
        gid = _group_id(groups, group_part)
    extra = []
    if name is not None and not group_part:
        extra = [int(g[2]) for g in groups if len(g) >= 4 and name in g[3].split(",") and g[2].isdigit()]
    for g in group_add:
        extra.append(_group_id(groups, g))
    return ExecUser(uid=uid, gid=gid or 0, additional_gids=tuple(dict.fromkeys(extra)), home=home)


def _group_id(groups: list[list[str]], spec: str) -> int:
    for ent in groups:
        if len(ent) >= 3 and (ent[0] == spec or ent[2] == spec):
            return int(ent[2])
    if spec.isdigit():
        return int(spec)
    raise InvalidArgument(f"unable to find group {spec}: no matching entries in group file")
