"""Generators for tiny rootfs tarballs, reusable by every test suite.

``make_busybox_rootfs_tar(path)`` writes a tar with ``bin/busybox`` (the host's static
busybox), one symlink per applet, ``etc/passwd``, ``etc/group``, ``tmp`` (1777) and the
usual empty directories, owned by root with numeric ids (like
``tar --numeric-owner`` in Docker's own busybox recipe). No root needed to build it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

BUSYBOX = "/bin/busybox"
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"
_FALLBACK_APPLETS = ("sh", "ls", "cat", "echo", "true", "false", "sleep", "mkdir", "rm", "touch",
                     "id", "env", "hostname", "ps", "wc", "grep", "head", "tail", "printf", "test")


def busybox_path() -> str:
    """The static busybox binary used for test images."""
    path = shutil.which("busybox") or BUSYBOX
    if not os.path.exists(path):
        raise FileNotFoundError("busybox is not installed (apt-get install busybox-static)")
    return path


def applets(busybox: str | None = None) -> list[str]:
    """Applet names the busybox binary provides."""
    try:
        out = subprocess.run([busybox or busybox_path(), "--list"], capture_output=True,
                             text=True, check=True).stdout.split()
        return sorted(set(out)) or list(_FALLBACK_APPLETS)
    except (OSError, subprocess.CalledProcessError):
        return list(_FALLBACK_APPLETS)


def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 1700000000
    return info


def write_busybox_rootfs(tf: tarfile.TarFile, extra_files: dict[str, bytes] | None = None) -> None:
    """Add the busybox rootfs entries to an open tar."""
    for d in ("bin", "dev", "etc", "proc", "sys", "root", "var", "usr", "usr/bin"):
        tf.addfile(_info(d, tarfile.DIRTYPE, 0o755))
    tf.addfile(_info("tmp", tarfile.DIRTYPE, 0o1777))
    bb = busybox_path()
    size = os.path.getsize(bb)
    with open(bb, "rb") as f:
        tf.addfile(_info("bin/busybox", mode=0o755, size=size), f)
    for applet in applets(bb):
        if applet == "busybox":
            continue
        link = _info(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
        link.linkname = "busybox"
        tf.addfile(link)
    files = {"etc/passwd": PASSWD, "etc/group": GROUP, "etc/hostname": b"busybox\n"}
    files.update(extra_files or {})
    for name, data in files.items():
        tf.addfile(_info(name, size=len(data)), io.BytesIO(data))


def make_busybox_rootfs_tar(path: str, extra_files: dict[str, bytes] | None = None) -> str:
    """Write a busybox rootfs tarball to ``path`` and return ``path``.

    Args:
        path: destination file.
        extra_files: more regular files to include, relative path → content.
    """
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        write_busybox_rootfs(tf, extra_files)
    return path


def make_layer_tar(entries: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A tar (bytes) from TarInfo entries, each optionally with content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for item in entries:
            if isinstance(item, tuple):
                info, data = item
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(item)
    return buf.getvalue()
