"""Containers without a mount namespace: what they cannot ask for, and the mounts they
leave in the runtime's own mount namespace.

Layer: runtime (3). May import: errors, linux.

runc runs such a container in its own (the host's) mount namespace: the spec mounts are
made under the rootfs there, and the init chroots into the rootfs instead of pivot_root.
hako-runtime does the same, with three differences where runc would change the host or
ignore a setting: it never touches the propagation of the host's "/" (runc makes it
rslave, or whatever rootfsPropagation says), it refuses ``root.readonly`` (runc ignores
it), and ``delete`` unmounts the mounts the container made (runc leaves them behind).
"""

from __future__ import annotations

from hako.errors import InvalidArgument


def check_spec(spec: dict) -> None:
    """Refuse what cannot be applied without a private mount namespace, in runc's words
    where runc refuses it too.

    Raises:
        InvalidArgument: one line naming the setting.
    """
    linux = spec.get("linux") or {}
    if linux.get("maskedPaths") or linux.get("readonlyPaths"):
        raise InvalidArgument("unable to restrict sys entries without a private MNT namespace")
    if (spec.get("root") or {}).get("readonly"):
        raise InvalidArgument("unable to make rootfs read-only without a private MNT namespace")
    if linux.get("rootfsPropagation"):
        raise InvalidArgument("unable to set rootfs propagation without a private MNT "
                              "namespace (it would change the host's)")


def mounts_under(rootfs: str) -> list[tuple[int, str]]:
    """(mount id, mount point) of every mount strictly below ``rootfs`` in our namespace."""
    from hako.linux import mountinfo

    prefix = rootfs.rstrip("/") + "/"
    return [(m.id, m.mountpoint) for m in mountinfo.read() if m.mountpoint.startswith(prefix)]


def new_mounts(rootfs: str, before: set[int]) -> list[list]:
    """[mount id, mount point] of each mount below ``rootfs`` whose id is not in
    ``before``, in mount order."""
    return [[mid, point] for mid, point in mounts_under(rootfs) if mid not in before]


def unmount(recorded: list[list]) -> None:
    """Detach the recorded mounts, latest first; only a mount still on top of its point
    with its recorded id is detached (never one that was there before the container)."""
    from hako.linux import mountinfo, syscalls

    for mid, point in reversed(recorded):
        top = [m.id for m in mountinfo.read() if m.mountpoint == point]
        if top and top[-1] == mid:
            syscalls.umount2(point, syscalls.MNT_DETACH)
