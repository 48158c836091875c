"""The ``local`` volume driver: one directory per volume under the data root.

On-disk layout (data root)::

    volumes/<name>/_data          the volume's content (what containers mount)
    volumes/<name>/volume.json    name, driver, labels, options, created_at, anonymous
                                  (written temp → fsync → rename; schema_version 1)
    volumes/.trash-<rand>/        a volume being removed (renamed away first, then deleted)

A volume exists once its ``volume.json`` does: ``create`` makes ``_data`` first and writes the
record last, ``remove`` renames the whole directory away first. A daemon killed at any
instant leaves either a whole volume or a directory without a record, which ``load`` deletes
(with any ``.trash-`` left over).

Options (``docker volume create -o``) are Docker's for the local driver: ``type``, ``device``
and ``o`` describe a mount (``type=tmpfs,device=tmpfs,o=size=64m``, or
``type=none,device=/path,o=bind``) performed on ``_data`` when the first container using the
volume starts and undone when the last one stops.

Volume names are checked against Docker's pattern (``[a-zA-Z0-9][a-zA-Z0-9_.-]+``) before
any path is made from them, so a name can never leave ``volumes/``.

Layer: volume (3). May import: errors, support, linux.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from typing import Any

from hako.linux import mountinfo
from hako.errors import InvalidArgument
from hako.support import atomicfile

log = logging.getLogger("hako.volume")

SCHEMA_VERSION = 1
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_OPTION_KEYS = ("type", "device", "o")
_RECORD = "volume.json"
_TRASH = ".trash-"


def validate_name(name: str) -> None:
    """Docker's local-driver name rule.

    Raises:
        InvalidArgument: Docker's text (it also tells users to pass absolute host paths).
    """
    if not _NAME_RE.match(name):
        if len(name) < 2 and _NAME_RE.match(name + name):
            raise InvalidArgument(f"volume name is too short, names should be at least two "
                                  f"alphanumeric characters")
        raise InvalidArgument(
            f'"{name}" includes invalid characters for a local volume name, only '
            f'"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            f"directory, use absolute path")


def validate_options(opts: dict[str, str]) -> None:
    """Raises InvalidArgument for keys the local driver does not know (Docker's text)."""
    for key in opts:
        if key not in _OPTION_KEYS:
            raise InvalidArgument(f'invalid option key: "{key}"')
    if opts.get("type") and not opts.get("device") and opts.get("type") != "tmpfs":
        raise InvalidArgument("missing required option: \"device\"")


@dataclass
class Volume:
    """One volume of the local driver."""

    name: str
    path: str  # volumes/<name>
    created_at: str
    labels: dict[str, str] | None = None  # None (anonymous, -v name:) shows as null
    options: dict[str, str] | None = None
    anonymous: bool = False

    @property
    def mountpoint(self) -> str:
        return os.path.join(self.path, "_data")

    driver = "local"

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "created_at": self.created_at, "labels": self.labels,
                "options": self.options, "anonymous": self.anonymous}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class LocalDriver:
    """Volumes as directories under ``root`` (``<data-root>/volumes``)."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, mode=0o701, exist_ok=True)

    def load(self) -> dict[str, Volume]:
        """Every complete volume; half-made or half-removed directories are deleted."""
        found: dict[str, Volume] = {}
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name)
            if name.startswith(_TRASH) or not _NAME_RE.match(name):
                log.info("removing leftover volume directory %s", name)
                shutil.rmtree(path, ignore_errors=True)
                continue
            try:
                doc = atomicfile.read_json(os.path.join(path, _RECORD))
            except FileNotFoundError:
                log.info("removing half-created volume %s", name)
                shutil.rmtree(path, ignore_errors=True)
                continue
            except (OSError, ValueError) as exc:
                log.warning("volume %s has an unreadable record (%s): skipped", name, exc)
                continue
            found[name] = Volume(name, path, doc.get("created_at") or _now(),
                                 doc.get("labels"), doc.get("options"), bool(doc.get("anonymous")))
        return found

    def create(self, name: str, labels: dict[str, str] | None, options: dict[str, str] | None,
               anonymous: bool = False) -> Volume:
        """Make ``volumes/<name>/_data`` and then its record.

        Raises:
            InvalidArgument: bad name or options.
        """
        validate_name(name)
        validate_options(options or {})
        path = os.path.join(self.root, name)
        os.makedirs(path, mode=0o701, exist_ok=True)
        os.makedirs(os.path.join(path, "_data"), mode=0o755, exist_ok=True)
        vol = Volume(name, path, _now(), labels, options, anonymous)
        atomicfile.write_json(os.path.join(path, _RECORD), vol.to_doc(), SCHEMA_VERSION)
        return vol

    def remove(self, vol: Volume) -> None:
        """Rename the volume away (it is gone from then on), then delete its files."""
        self.unmount(vol)
        trash = os.path.join(self.root, f"{_TRASH}{vol.name}-{os.urandom(4).hex()}")
        os.rename(vol.path, trash)
        atomicfile.fsync_dir(self.root)
        shutil.rmtree(trash, ignore_errors=True)

    # -- option mounts ---------------------------------------------------------------------
    def mount(self, vol: Volume) -> None:
        """Perform the volume's option mount on ``_data`` (no-op without ``type``/``o``)."""
        opts = vol.options or {}
        if not opts.get("type") and not opts.get("o"):
            return
        if mountinfo.is_mountpoint(vol.mountpoint):
            return
        from hako.linux.mount import Mount

        words = tuple(w for w in (opts.get("o") or "").split(",") if w)
        device = opts.get("device") or opts.get("type") or ""
        fstype = opts.get("type") or ""
        if fstype == "none":
            fstype = ""
        if "bind" in words or "rbind" in words:
            fstype = "bind"
        try:
            Mount(fstype, device, vol.mountpoint, words).mount()
        except OSError as exc:
            raise InvalidArgument(f"error while mounting volume '{vol.mountpoint}': "
                                  f"failed to mount local volume: mount {device}:"
                                  f"{vol.mountpoint}, flags: {opts.get('o') or ''}: "
                                  f"{exc.strerror or exc}") from exc

    def unmount(self, vol: Volume) -> None:
        from hako.linux.mount import unmount

        while mountinfo.is_mountpoint(vol.mountpoint):
            try:
                unmount(vol.mountpoint)
            except OSError:
                unmount(vol.mountpoint, 2)  # MNT_DETACH


def dir_size(path: str) -> int:
    """Bytes used by the files under ``path`` (each inode once, links never followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for top, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if not os.path.isdir(os.path.join(top, name)) or os.path.islink(os.path.join(top, name)):
                total += st.st_size
    return total
