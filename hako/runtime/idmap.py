"""Idmapped bind mounts (runtime-spec 1.1 ``mounts[].uidMappings/gidMappings``).

A mount that carries mappings is made by the runtime's parent process, which is privileged
in the host's user namespace, before the init is spawned:

1. a user namespace holding exactly the mount's mappings: a short-lived child unshares
   ``CLONE_NEWUSER`` and the parent writes its ``uid_map``/``gid_map`` (the mapping says how
   ids on the source filesystem appear through the mount: ``containerID`` on disk shows as
   ``hostID``, so the container's own mapping makes host-root files its root's);
2. ``open_tree(source, OPEN_TREE_CLONE)``: a detached copy of the source mount (recursive for
   ``rbind``);
3. ``mount_setattr(MOUNT_ATTR_IDMAP)`` with that user namespace.

The init inherits the detached mount's descriptor across fork and attaches it with
``move_mount`` at the destination it resolved inside the rootfs (``rootfs.mount_one``), after
which the usual remount (``ro``…) and propagation steps apply. A filesystem without idmapped
mount support fails create with the kernel's reason; nothing is skipped.

Layer: runtime (3). May import: errors, linux.
"""

from __future__ import annotations

import os

from hako.errors import InvalidArgument

_KEYS = ("uidMappings", "gidMappings")


def wanted(entry: dict) -> bool:
    return any(entry.get(k) for k in _KEYS)


def validate(entry: dict) -> None:
    """Refuse mappings on anything but a bind mount, or a half-given or malformed mapping.

    Raises:
        InvalidArgument: naming the mount's destination.
    """
    if not wanted(entry):
        return
    dest = entry.get("destination", "")
    options = entry.get("options") or []
    if entry.get("type") not in ("bind", "", None) and "bind" not in options and "rbind" not in options:
        raise InvalidArgument(f"mount {dest}: uidMappings/gidMappings are only supported on bind mounts")
    if not (entry.get("uidMappings") and entry.get("gidMappings")):
        raise InvalidArgument(f"mount {dest}: an idmapped mount needs both uidMappings and gidMappings")
    for key in _KEYS:
        for m in entry[key]:
            if not isinstance(m, dict) or not all(isinstance(m.get(k), int) and m[k] >= 0
                                                  for k in ("containerID", "hostID", "size")) \
                    or not m["size"]:
                raise InvalidArgument(f"mount {dest}: invalid {key[:3]} mapping {m!r}")


def _map_text(entries: list) -> bytes:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in entries).encode()


def userns_fd(uid_map: list, gid_map: list) -> int:
    """A descriptor of a new user namespace with these mappings (its process is gone).

    Raises:
        OSError: the namespace could not be made or mapped.
    """
    from hako.linux import syscalls

    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only unshares and waits
        status = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
            status = 0
        finally:
            os._exit(status)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError("the user namespace helper failed to unshare")
        for name, entries in (("uid_map", uid_map), ("gid_map", gid_map)):
            with open(f"/proc/{pid}/{name}", "wb", buffering=0) as f:
                f.write(_map_text(entries))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def prepare(mounts: list, bundle: str) -> dict[int, int]:
    """Detached idmapped mounts for every spec mount that asks for one: ``{index: fd}``.
    The caller closes the descriptors once the init has them.

    Raises:
        OSError: naming the mount (no such source, the filesystem refuses idmapping…).
    """
    from hako.linux import syscalls

    out: dict[int, int] = {}
    namespaces: dict[tuple, int] = {}
    try:
        for i, entry in enumerate(mounts):
            if not wanted(entry):
                continue
            key = (repr(entry["uidMappings"]), repr(entry["gidMappings"]))
            if key not in namespaces:
                namespaces[key] = userns_fd(entry["uidMappings"], entry["gidMappings"])
            source = entry.get("source") or ""
            source = source if source.startswith("/") else os.path.join(bundle, source)
            recursive = "rbind" in (entry.get("options") or [])
            flags = syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC
            try:
                fd = syscalls.open_tree(source, flags | (syscalls.AT_RECURSIVE if recursive else 0))
                out[i] = fd
                syscalls.mount_setattr_idmap(fd, namespaces[key], recursive)
            except OSError as exc:
                raise OSError(exc.errno, f"idmapped mount of {source} on {entry.get('destination')}: "
                                         f"{exc.strerror}") from None
    except BaseException:
        close(out)
        raise
    finally:
        close({k: fd for k, fd in enumerate(namespaces.values())})
    return out


def close(fds: dict[int, int]) -> None:
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass
