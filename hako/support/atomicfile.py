"""Atomic file writes: temp file in the same directory, fsync, rename, fsync the directory.

A reader never sees a half-written file, and a crash (even ``kill -9``) leaves either the
old or the new content. JSON documents carry a ``schema_version`` key.

``durable=False`` skips both fsyncs, for derived files the daemon writes again whenever it
needs them (a container's hosts, hostname and resolv.conf, its OCI config.json: each start
rewrites them): the rename still makes them atomic for readers and across a ``kill -9``
(the page cache outlives the process); only an OS crash can lose the last content, and
the next start writes it again.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_KEY = "schema_version"


def write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Atomically replace ``path`` with ``data``.

    Args:
        path: destination file; its directory must exist.
        data: the full new content.
        mode: permission bits of the new file.
        durable: fsync the file and its directory (see the module's docstring).
    """
    if not durable:
        _replace_quickly(os.fspath(path), data, mode)
        return
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    _fill_and_rename(fd, tmp, path, data, mode, sync=True)
    fsync_dir(path.parent)


def _replace_quickly(path: str, data: bytes, mode: int) -> None:
    """``write_bytes`` without fsyncs, through a temp file of a fixed name beside ``path``
    (one writer per file at a time: the callers hold the container's lock; a temp file a
    killed writer left is truncated by the next)."""
    head, tail = os.path.split(path)
    tmp = os.path.join(head, f".tmp-{tail}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    _fill_and_rename(fd, tmp, path, data, mode, sync=False)


def _fill_and_rename(fd: int, tmp: str, path: str | os.PathLike, data: bytes, mode: int,
                     sync: bool) -> None:
    """Write ``data`` into the open temp file ``fd`` (named ``tmp``), set ``mode`` (``fd``
    may have existed, or have been made 0600), fsync it if ``sync``, close it and rename it
    onto ``path``; on any failure the temp file is removed."""
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def fsync_dir(path: str | os.PathLike) -> None:
    """fsync a directory so a rename inside it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str | os.PathLike, obj: dict[str, Any], schema_version: int = 1) -> None:
    """Atomically write ``obj`` as JSON with a ``schema_version`` key."""
    doc = dict(obj)
    doc[SCHEMA_KEY] = schema_version
    write_bytes(path, json.dumps(doc, separators=(",", ":")).encode())


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON document written by :func:`write_json`.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not valid JSON.
    """
    with open(path, "rb") as f:
        return json.loads(f.read())
