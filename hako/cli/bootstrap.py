"""``hako image bootstrap``: make base images without a registry, through the API only.

- ``busybox``: a rootfs from Debian's static ``/bin/busybox`` (one symlink per applet at the
  path ``busybox --list-full`` gives, like ``--install -s``), ``/etc/passwd`` with root,
  nobody and postgres (999, as Debian assigns it), ``/etc/group``, ``/tmp`` (1777),
  ``/root``, ``/home``, ``/var``, and empty ``/proc /sys /dev``; tarred in memory with
  numeric root ownership and imported with ``CMD ["sh"]``.
- ``debian:SUITE``: ``debootstrap --variant=minbase SUITE <tmpdir> <mirror>`` (the mirror
  comes from apt's configured sources), tarred and imported with ``CMD ["bash"]``.

Both POST ``/images/create?fromSrc=-``, so they work against real Docker too.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from typing import Any

from hako.cli.main import CliError
from hako.cli.progress import render_progress

BUSYBOX = "/bin/busybox"
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh\n"
)
GROUP = "root:x:0:\nnogroup:x:65534:\npostgres:x:999:\n"


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True)
    return sorted({line.strip() for line in out.stdout.splitlines() if line.strip()})


def busybox_tar(busybox: str = BUSYBOX, mtime: float | None = None) -> bytes:
    """Build the busybox rootfs tar in memory.

    Raises:
        CliError: the busybox binary is missing.
    """
    if not os.path.exists(busybox):
        raise CliError(f"{busybox} not found: install Debian's busybox-static")
    mtime = int(os.stat(busybox).st_mtime if mtime is None else mtime)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "var",
                "var/lib", "var/lib/postgresql", "proc", "sys", "dev", "tmp", "lib"}
        applets = [a for a in _applets(busybox) if a != "bin/busybox"]
        for a in applets:
            parent = os.path.dirname(a)
            while parent:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        modes = {"tmp": 0o1777, "root": 0o700}
        for d in sorted(dirs):
            add(d, tarfile.DIRTYPE, modes.get(d, 0o755))
        with open(busybox, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
        for a in applets:
            add(a, tarfile.SYMTYPE, 0o777, link="/bin/busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
    return buf.getvalue()


def apt_mirror(paths: tuple[str, ...] = ("/etc/apt/sources.list",),
               dirs: tuple[str, ...] = ("/etc/apt/sources.list.d",)) -> str:
    """The first Debian mirror URL in apt's one-line or deb822 sources.

    Raises:
        CliError: none is configured.
    """
    files = [p for p in paths if os.path.isfile(p)]
    for d in dirs:
        if os.path.isdir(d):
            files += [os.path.join(d, n) for n in sorted(os.listdir(d))
                      if n.endswith((".list", ".sources"))]
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for line in text.splitlines():
            m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and "security" not in m.group(1) and "-" not in m.group(2):
                return m.group(1)
        for m in re.finditer(r"(?mi)^URIs:\s*(\S+)", text):
            if "security" not in m.group(1):
                return m.group(1)
    raise CliError("no Debian mirror found in /etc/apt/sources.list(.d)")


def _import(ctx: Any, body: Any, ref: str, cmd: str) -> None:
    repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    params = {"fromSrc": "-", "repo": repo, "tag": tag, "changes": f"CMD {cmd}"}
    resp = ctx.api.images.create(params, body)
    render_progress(resp.iter_chunks(), ctx.stdout)


def _debootstrap(ctx: Any, suite: str, mirror: str | None, ref: str) -> None:
    if shutil.which("debootstrap") is None:
        raise CliError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = mirror or apt_mirror()
    tmp = tempfile.mkdtemp(prefix="hako-debootstrap-")
    try:
        root = os.path.join(tmp, "rootfs")
        proc = subprocess.run(["debootstrap", "--variant=minbase", suite, root, mirror],
                              stdout=ctx.stderr, stderr=ctx.stderr)
        if proc.returncode != 0:
            raise CliError(f"debootstrap failed with exit status {proc.returncode}")
        tar_path = os.path.join(tmp, "rootfs.tar")
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-cf", tar_path,
                        "."], check=True)
        with open(tar_path, "rb") as f:
            _import(ctx, iter(lambda: f.read(1 << 20), b""), ref, '["bash"]')
    finally:
        _unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def _unmount_under(path: str) -> None:
    """Unmount anything debootstrap left mounted below ``path`` (deepest first)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        targets = [line.split()[4] for line in f]
    for target in sorted((t for t in targets if t.startswith(path + "/")), reverse=True):
        subprocess.run(["umount", "-l", target], check=False)


def bootstrap(ctx: Any, what: str, tag: str | None, mirror: str | None) -> int:
    """Build and import a base image; prints the import stream (the new image id).

    Raises:
        CliError: unknown base or missing tools.
    """
    if what in ("busybox", "busybox:latest"):
        _import(ctx, busybox_tar(), tag or "busybox:latest", '["sh"]')
    elif what.startswith("debian"):
        suite = what.partition(":")[2] or "bookworm"
        _debootstrap(ctx, suite, mirror, tag or f"debian:{suite}")
    else:
        raise CliError(f"unknown bootstrap base {what!r}: use busybox or debian:SUITE")
    return 0
