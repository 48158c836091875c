"""Reject invalid or unsupported specs before anything touches the host.

Layer: runtime (3). May import: errors.
"""

from __future__ import annotations

import os

from hako.errors import InvalidArgument, Unsupported

_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def load_spec(bundle: str) -> dict:
    """Read <bundle>/config.json.

    Raises:
        InvalidArgument: missing or not JSON.
    """
    import json

    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            spec = json.loads(f.read())
    except FileNotFoundError:
        raise InvalidArgument(f"JSON specification file {path} not found") from None
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON in {path}: {exc}") from None
    if not isinstance(spec, dict):
        raise InvalidArgument(f"invalid JSON in {path}: not an object")
    return spec


def rootfs_path(spec: dict, bundle: str) -> str:
    """Absolute, resolved rootfs path of ``spec``.

    Raises:
        InvalidArgument: root.path missing or not a directory.
    """
    path = (spec.get("root") or {}).get("path") or ""
    if not path:
        raise InvalidArgument("root.path is empty in the spec")
    full = os.path.realpath(os.path.join(bundle, path))
    if not os.path.isdir(full):
        raise InvalidArgument(f"rootfs ({full}) does not exist")
    return full


def validate_process(process: dict | None) -> None:
    """Check process.args and cwd.

    Raises:
        InvalidArgument: no args, relative cwd, malformed env.
    """
    if not process:
        raise InvalidArgument("process is not set in the spec")
    args = process.get("args")
    if not args or not isinstance(args, list) or not args[0]:
        raise InvalidArgument("args must not be empty")
    cwd = process.get("cwd") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"cwd {cwd!r} is not an absolute path")
    for item in process.get("env") or []:
        if not isinstance(item, str) or "=" not in item:
            raise InvalidArgument(f"invalid environment variable {item!r}: want KEY=VALUE")


def validate_spec(spec: dict, console_socket: str | None) -> dict:
    """Validate a whole spec for create/run.

    Args:
        spec: the parsed config.json.
        console_socket: the --console-socket flag (None when not given).
    Returns:
        kind → Namespace from linux.namespaces.
    Raises:
        InvalidArgument, Unsupported: with runc-like texts.
    """
    from hako.runtime import namespaces

    if not spec.get("ociVersion"):
        raise InvalidArgument("ociVersion is missing from the spec")
    process = spec.get("process")
    validate_process(process)
    linux = spec.get("linux") or {}
    ns = namespaces.parse(linux.get("namespaces") or [])
    if "mount" not in ns:
        from hako.runtime import hostns

        hostns.check_spec(spec)
    if spec.get("hostname") and "uts" not in ns:
        raise InvalidArgument("unable to set hostname without a private UTS namespace")
    for entry in ns.values():
        if entry.path:
            namespaces.check_path(entry)
    _check_id_mappings(linux, ns)
    from hako.runtime import idmap

    for entry in spec.get("mounts") or []:
        idmap.validate(entry)
    _check_security_labels(spec)
    terminal = bool(process.get("terminal"))
    if terminal and not console_socket:
        raise InvalidArgument(
            "cannot allocate tty if hako-runtime will detach without setting console socket")
    if console_socket and not terminal:
        raise InvalidArgument("cannot use console socket if hako-runtime will not allocate tty")
    for key in linux.get("sysctl") or {}:
        _check_sysctl(key, ns)
    if spec.get("hooks"):
        from hako.runtime import hooks

        hooks.validate(spec)
    return ns


def _check_id_mappings(linux: dict, ns: dict) -> None:
    """uid/gid mappings go with a new user namespace, and only with one (runc's rules)."""
    maps = (linux.get("uidMappings"), linux.get("gidMappings"))
    user = ns.get("user")
    if user is None:
        if any(maps):
            raise InvalidArgument("user namespaces need to be enabled to use uid/gid mappings")
        return
    if user.path:
        if any(maps):
            raise InvalidArgument("user namespace path and uid/gid mappings cannot both be set")
        return
    if not maps[0]:
        raise InvalidArgument("user namespaces enabled, but no uid mappings found")
    if not maps[1]:
        raise InvalidArgument("user namespaces enabled, but no gid mappings found")
    for kind, entries in (("uid", maps[0]), ("gid", maps[1])):
        for m in entries:
            if not all(isinstance(m.get(k), int) and m.get(k) >= 0
                       for k in ("containerID", "hostID", "size")) or not m.get("size"):
                raise InvalidArgument(f"invalid {kind} mapping {m!r}")


def id_map_text(entries: list) -> bytes:
    """The text written to /proc/<pid>/{uid,gid}_map (one write, one line a range)."""
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in entries).encode()


def _check_security_labels(spec: dict) -> None:
    """AppArmor and SELinux settings the host cannot apply are refused, never skipped
    (hako-runtime applies neither yet: refused where the host has them too)."""
    process = spec.get("process") or {}
    linux = spec.get("linux") or {}
    profile = process.get("apparmorProfile") or ""
    if profile and profile != "unconfined":
        if not os.path.exists("/sys/kernel/security/apparmor"):
            raise InvalidArgument(f"apparmor profile {profile} specified but AppArmor is not "
                                  "enabled on the host")
        raise Unsupported(f"apparmor profile {profile}: hako-runtime cannot apply AppArmor "
                          "profiles yet")
    for key, value in (("process.selinuxLabel", process.get("selinuxLabel")),
                       ("linux.mountLabel", linux.get("mountLabel"))):
        if value:
            if not os.path.exists("/sys/fs/selinux/enforce"):
                raise InvalidArgument(f"{key} {value!r} is specified in config, but selinux "
                                      "is disabled or not supported")
            raise Unsupported(f"{key}: hako-runtime cannot apply SELinux labels yet")


def _check_sysctl(key: str, ns: dict) -> None:
    def own(kind: str) -> bool:
        return kind in ns and not ns[kind].path

    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if own("ipc"):
            return
        raise InvalidArgument(f"sysctl {key!r} is not allowed in the hosts ipc namespace")
    if key.startswith("net."):
        if "network" in ns:
            return
        raise InvalidArgument(f"sysctl {key!r} is not allowed in the hosts network namespace")
    if key in ("kernel.hostname", "kernel.domainname") and own("uts"):
        return
    raise InvalidArgument(f"sysctl {key!r} is not in a separate kernel namespace")


def parse_signal(text: str) -> int:
    """Parse a signal given as a number, ``KILL`` or ``SIGKILL``.

    Raises:
        InvalidArgument: ``unknown signal "X"``.
    """
    import signal

    if text.isdigit():
        number = int(text)
        if 0 < number < 65:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        value = getattr(signal, name, None)
        if isinstance(value, signal.Signals):
            return int(value)
    raise InvalidArgument(f'unknown signal "{text}"')
