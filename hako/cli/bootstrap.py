"""``hako image bootstrap``: make base images without a registry, through the API only.

- ``busybox``: a rootfs from Debian's static ``/bin/busybox`` laid out as Docker Hub's
  ``busybox:latest`` (docker-library/busybox): every applet a hard link in ``/bin``
  (``busybox --install /bin``), ``/usr/bin/env`` → ``../../bin/env``, buildroot's
  ``/etc/passwd``, ``/etc/group`` and ``/etc/shadow`` (root locked) with their home
  directories and owners, ``/etc/localtime`` (UTC), ``/tmp`` (1777), ``/root`` (700); tarred
  in memory with numeric ownership and imported with ``CMD ["sh"]``.
- ``debian:SUITE``: ``debootstrap --variant=minbase SUITE <tmpdir> <mirror>`` (the mirror
  comes from apt's configured sources), tarred and imported with ``CMD ["bash"]``;
  ``--include PKGS`` (comma-separated) is debootstrap's ``--include``, so
  ``--include systemd,systemd-sysv`` makes an image that boots systemd (``hako run --systemd``).

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
from typing import Any

from hako.cli.main import CliError
from hako.cli.progress import render_progress

BUSYBOX = "/bin/busybox"
# Docker Hub's busybox:latest takes these from buildroot's skeleton (docker-library/busybox's
# Dockerfile.builder): the same users, groups and home directories
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "bin:x:2:2:bin:/bin:/bin/false\n"
    "sys:x:3:3:sys:/dev:/bin/false\n"
    "sync:x:4:100:sync:/bin:/bin/sync\n"
    "mail:x:8:8:mail:/var/spool/mail:/bin/false\n"
    "www-data:x:33:33:www-data:/var/www:/bin/false\n"
    "operator:x:37:37:Operator:/var:/bin/false\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
)
GROUP = "".join(f"{name}:x:{gid}:{members}\n" for name, gid, members in (
    ("root", 0, ""), ("daemon", 1, ""), ("bin", 2, ""), ("sys", 3, ""), ("adm", 4, ""),
    ("tty", 5, ""), ("disk", 6, ""), ("lp", 7, ""), ("mail", 8, ""), ("kmem", 9, ""),
    ("wheel", 10, "root"), ("cdrom", 11, ""), ("dialout", 18, ""), ("floppy", 19, ""),
    ("video", 28, ""), ("audio", 29, ""), ("tape", 32, ""), ("www-data", 33, ""),
    ("operator", 37, ""), ("utmp", 43, ""), ("plugdev", 46, ""), ("staff", 50, ""),
    ("lock", 54, ""), ("netdev", 82, ""), ("users", 100, ""), ("nobody", 65534, "")))
# root's password locked, as the image fixes CVE-2019-5021
SHADOW = "".join(f"{line.split(':')[0]}:*:::::::\n" for line in PASSWD.splitlines())
# directory → (mode, uid, gid); buildroot's device_table.txt plus the users' homes
DIRS = {
    "bin": (0o755, 0, 0), "dev": (0o755, 0, 0), "etc": (0o755, 0, 0),
    "etc/network": (0o755, 0, 0), "etc/network/if-down.d": (0o755, 0, 0),
    "etc/network/if-post-down.d": (0o755, 0, 0), "etc/network/if-pre-up.d": (0o755, 0, 0),
    "etc/network/if-up.d": (0o755, 0, 0), "home": (0o755, 0, 0), "proc": (0o755, 0, 0),
    "root": (0o700, 0, 0), "sys": (0o755, 0, 0), "tmp": (0o1777, 0, 0), "usr": (0o755, 0, 0),
    "usr/bin": (0o755, 0, 0), "usr/sbin": (0o755, 1, 1), "var": (0o755, 0, 0),
    "var/spool": (0o755, 0, 0), "var/spool/mail": (0o755, 8, 8), "var/www": (0o755, 33, 33),
}
ZONEINFO_UTC = "/usr/share/zoneinfo/UTC"


def _applets(busybox: str) -> list[str]:
    """Applet names (``busybox --list``): each becomes a hard link in /bin, as
    ``busybox --install /bin`` makes them in Docker Hub's image."""
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    return sorted({line.strip() for line in out.stdout.splitlines() if line.strip()} -
                  {"busybox"})


def busybox_tar(busybox: str = BUSYBOX, mtime: float | None = None) -> bytes:
    """Build the busybox rootfs tar in memory, laid out as Docker Hub's busybox:latest.

    Raises:
        CliError: the busybox binary is missing.
    """
    if not os.path.exists(busybox):
        raise CliError(f"{busybox} not found: install Debian's busybox-static")
    mtime = int(os.stat(busybox).st_mtime if mtime is None else mtime)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "",
                owner: int = 0) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, link
            info.uid = info.gid = owner
            info.uname = info.gname = ""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d, (mode, uid, _gid) in sorted(DIRS.items()):
            add(d, tarfile.DIRTYPE, mode, owner=uid)
        with open(busybox, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
        for a in _applets(busybox):
            add(f"bin/{a}", tarfile.LNKTYPE, 0o755, link="bin/busybox")
        add("usr/bin/env", tarfile.SYMTYPE, 0o777, link="../../bin/env")
        add("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD.encode())
        add("etc/group", tarfile.REGTYPE, 0o644, GROUP.encode())
        add("etc/shadow", tarfile.REGTYPE, 0o600, SHADOW.encode())
        if os.path.exists(ZONEINFO_UTC):
            with open(ZONEINFO_UTC, "rb") as f:
                add("etc/localtime", tarfile.REGTYPE, 0o644, f.read())
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


def debootstrap_argv(suite: str, root: str, mirror: str, include: str = "") -> list[str]:
    """The debootstrap command line; ``include`` is its comma-separated ``--include``.

    Raises:
        CliError: a package name debootstrap would take for an option or a path.
    """
    argv = ["debootstrap", "--variant=minbase"]
    pkgs = [p.strip() for p in include.split(",") if p.strip()]
    for pkg in pkgs:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", pkg):
            raise CliError(f"invalid package name {pkg!r} in --include")
    if pkgs:
        argv.append("--include=" + ",".join(pkgs))
    return argv + [suite, root, mirror]


def _debootstrap(ctx: Any, suite: str, mirror: str | None, ref: str, include: str = "") -> None:
    if shutil.which("debootstrap") is None:
        raise CliError("debootstrap is not installed (apt-get install debootstrap)")
    mirror = mirror or apt_mirror()
    tmp = tempfile.mkdtemp(prefix="hako-debootstrap-")
    try:
        root = os.path.join(tmp, "rootfs")
        proc = subprocess.run(debootstrap_argv(suite, root, mirror, include),
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


def bootstrap(ctx: Any, what: str, tag: str | None, mirror: str | None,
              include: str = "") -> int:
    """Build and import a base image; prints the import stream (the new image id).

    Raises:
        CliError: unknown base or missing tools.
    """
    if what in ("busybox", "busybox:latest"):
        if include:
            raise CliError("--include is for debian:SUITE (debootstrap) only")
        _import(ctx, busybox_tar(), tag or "busybox:latest", '["sh"]')
    elif what.startswith("debian"):
        suite = what.partition(":")[2] or "bookworm"
        _debootstrap(ctx, suite, mirror, tag or f"debian:{suite}", include)
    else:
        raise CliError(f"unknown bootstrap base {what!r}: use busybox or debian:SUITE")
    return 0
