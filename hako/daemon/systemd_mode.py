"""systemd as a container's init: Podman's ``--systemd=true|false|always``.

The mode travels as the label ``io.hako.systemd`` (``hako run --systemd=X`` sets it; Docker
clients send ``--label io.hako.systemd=X``; an image may carry it too). Unset means
``true``: systemd mode is on when the command (Entrypoint + Cmd) is ``/sbin/init``,
``/usr/sbin/init``, ``/usr/local/sbin/init`` or a file named ``systemd``, as Podman decides;
``always`` turns it on for any command, ``false`` never.

At create (``apply_create``): STOPSIGNAL ``SIGRTMIN+3`` (systemd's halt) unless the user or
the image chose one, ``container=hako`` in Env, and a private cgroup namespace.
At start (``start_options``):

- tmpfs on ``/run``, ``/run/lock``, ``/tmp`` and ``/var/log/journal`` (exec allowed: systemd
  runs generators from /run), unless the user mounts something there;
- ``/run/.containerenv`` (Podman's file: engine, name, id, image) and a per-container
  ``/etc/machine-id`` when the image has none (or an empty one);
- a writable cgroup: on cgroup v1 (and the hybrid layout) the container's own directory of
  the ``name=systemd`` hierarchy is bind-mounted rw over ``/sys/fs/cgroup/systemd`` (the
  controllers stay read-only, so the container cannot lift its limits); on pure cgroup v2
  the container's cgroup namespace root, its delegated subtree, is mounted rw at
  ``/sys/fs/cgroup``, as Podman does.

Layer: daemon (6). May import: errors, runtime, support.
"""

from __future__ import annotations

import os
from typing import Any

from hako.errors import InvalidArgument

LABEL = "io.hako.systemd"
MODES = ("true", "false", "always")
STOP_SIGNAL = "SIGRTMIN+3"
_INIT_COMMANDS = ("/sbin/init", "/usr/sbin/init", "/usr/local/sbin/init")
# destination → tmpfs options (hako's --tmpfs syntax)
TMPFS = {"/run": "exec,mode=755", "/run/lock": "exec,mode=1777", "/tmp": "exec,mode=1777",
         "/var/log/journal": "exec,mode=2755"}
CGROUP_ROOT = "/sys/fs/cgroup"


def mode(config: dict[str, Any]) -> str:
    """The container's systemd mode from its labels ("true" when unset).

    Raises:
        InvalidArgument: a value other than true, false or always.
    """
    value = ((config.get("Labels") or {}).get(LABEL) or "true").strip().lower()
    if value not in MODES:
        raise InvalidArgument(f'invalid value "{value}" for label {LABEL} (--systemd): '
                              "must be true, false or always")
    return value


def is_init_command(argv: list[str]) -> bool:
    """Podman's test: the command is an init that is (or may be) systemd."""
    return bool(argv) and (argv[0] in _INIT_COMMANDS or os.path.basename(argv[0]) == "systemd")


def enabled(config: dict[str, Any]) -> bool:
    """Whether systemd mode is on for this (merged) Config."""
    m = mode(config)
    if m != "true":
        return m == "always"
    return is_init_command([*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])])


def apply_create(config: dict[str, Any], host_config: dict[str, Any]) -> None:
    """Create-time part, on the merged Config and normalised HostConfig (in place).

    Raises:
        InvalidArgument: a bad label value.
    """
    if not enabled(config):
        return
    if not config.get("StopSignal"):
        config["StopSignal"] = STOP_SIGNAL
    env = list(config.get("Env") or [])
    if not any(e.startswith("container=") for e in env):
        env.append("container=hako")
    config["Env"] = env
    host_config["CgroupnsMode"] = "private"


def containerenv(c: Any, engine_version: str) -> bytes:
    """Podman's /run/.containerenv for container record ``c``."""
    def q(v: Any) -> str:
        return str(v or "").replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")

    return (f'engine="hako-{q(engine_version)}"\nname="{q(c.name.lstrip("/"))}"\n'
            f'id="{q(c.id)}"\nimage="{q(c.config.get("Image"))}"\n'
            f'imageid="{q(c.image)}"\nrootless=0\n').encode()


def _image_has_machine_id(rootfs: str) -> bool:
    from hako.support.fsroot import open_in_root

    try:
        fd = open_in_root(rootfs, "etc/machine-id")
    except OSError:
        return False
    try:
        return bool(os.read(fd, 64).strip())
    except OSError:  # a directory, say
        return False
    finally:
        os.close(fd)


def _hierarchies(root: str = CGROUP_ROOT) -> tuple[str | None, list[str]]:
    """Mount point of the v1 ``name=systemd`` hierarchy (or None), and those of cgroup2
    below ``root`` (the hybrid layout's ``unified``)."""
    from hako.linux import mountinfo

    named, unified = None, []
    for m in mountinfo.read():
        if not m.mountpoint.startswith(root + "/"):
            continue
        if m.fstype == "cgroup2":
            unified.append(m.mountpoint)
        elif m.fstype == "cgroup" and "name=systemd" in m.super_options.split(","):
            named = named or m.mountpoint
    return named, unified


def cgroup_mounts(cgroups_path: str, root: str = CGROUP_ROOT) -> list[dict[str, Any]]:
    """The writable cgroup mount for systemd (see the module docstring).

    On the hybrid layout the container's cgroup2 is the host's root (hako's v1 driver
    does not place containers in ``unified``), which systemd would take as its primary
    hierarchy and fail to write: an empty tmpfs hides it, so systemd runs in legacy mode
    on its ``name=systemd`` subtree.

    Raises:
        InvalidArgument: cgroup v1 without a ``name=systemd`` hierarchy, or a relative
            cgroups path (the runtime would place it under its own cgroup).
    """
    from hako.runtime.cgroups.detect import is_v2

    if is_v2(root):
        return [{"destination": CGROUP_ROOT, "type": "cgroup", "source": "cgroup",
                 "options": ["rw", "nosuid", "noexec", "nodev"]}]
    hierarchy, unified = _hierarchies(root)
    if hierarchy is None:
        raise InvalidArgument(
            f"--systemd: cgroup v1 without a name=systemd hierarchy under {root}; mount one "
            f"(mkdir {root}/systemd && mount -t cgroup -o none,name=systemd cgroup {root}/systemd)")
    if not cgroups_path.startswith("/"):
        raise InvalidArgument(f"--systemd needs an absolute cgroup parent, not {cgroups_path!r}")
    hidden = [{"destination": CGROUP_ROOT + u[len(root):], "type": "tmpfs", "source": "tmpfs",
               "options": ["ro", "nosuid", "noexec", "nodev", "size=4k", "mode=555"]}
              for u in unified]
    return [{"destination": CGROUP_ROOT + hierarchy[len(root):], "type": "bind",
             "source": hierarchy + cgroups_path,
             "options": ["rbind", "rw", "nosuid", "noexec", "nodev", "rprivate"]}] + hidden


def start_options(svc: Any, c: Any, rootfs: str, taken: set[str]) -> tuple[list[dict], dict]:
    """Start-time part: the extra mounts and tmpfs of a systemd container (nothing when the
    mode is off). ``taken``: destinations the user already mounts on.

    Returns:
        (OCI mount dicts, {destination: tmpfs options}).

    Raises:
        InvalidArgument: the cgroup layout cannot give systemd a writable cgroup.
    """
    if not enabled(c.config):
        return [], {}
    from hako import __version__
    from hako.support import atomicfile

    mounts = cgroup_mounts(svc.cgroups_path(c))
    env_file = c.file("containerenv")
    atomicfile.write_bytes(env_file, containerenv(c, __version__))
    mounts.append({"destination": "/run/.containerenv", "type": "bind", "source": env_file,
                   "options": ["rbind", "ro", "rprivate"]})
    if "/etc/machine-id" not in taken and not _image_has_machine_id(rootfs):
        mid = c.file("machine-id")
        atomicfile.write_bytes(mid, (c.id[:32] + "\n").encode())
        mounts.append({"destination": "/etc/machine-id", "type": "bind", "source": mid,
                       "options": ["rbind", "ro", "rprivate"]})
    tmpfs = {dest: opts for dest, opts in TMPFS.items() if dest not in taken}
    return [m for m in mounts if m["destination"] not in taken], tmpfs
