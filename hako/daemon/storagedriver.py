"""``--storage-driver``: the kernel's overlayfs (overlay2) or fuse-overlayfs.

A rootless hakod without the flag probes a scratch overlay under its data root (in its
user namespace, with ``userxattr``) and falls back to fuse-overlayfs where the kernel
refuses; a rootful one keeps overlay2.

Layer: daemon (4). May import: errors, linux, store.
"""

from __future__ import annotations

import os
import shutil

from hako.errors import InvalidArgument

def choose(config) -> None:
    """``--storage-driver``: overlay2 is the kernel's overlayfs; fuse-overlayfs mounts the same
    layers through FUSE. A rootless hakod without the flag probes the kernel (overlay in a
    user namespace needs Linux 5.11) and falls back to fuse-overlayfs where it is refused.

    Raises:
        InvalidArgument: the driver cannot work here (naming what is missing).
    """
    driver = getattr(config, "storage_driver", "") or ""
    if not driver and not config.rootless:
        return
    fuse = shutil.which("fuse-overlayfs") or ""
    if driver == "fuse-overlayfs":
        if not fuse:
            raise InvalidArgument("--storage-driver fuse-overlayfs: fuse-overlayfs not found "
                                  "(install the fuse-overlayfs package)")
        _use_fuse(fuse)
        return
    reason = _overlay_refused(config.data_root)
    if not reason:
        return
    if driver == "overlay2" or not fuse:
        raise InvalidArgument(f"overlay2: the kernel refuses overlayfs here ({reason}); "
                              "install fuse-overlayfs or use --storage-driver fuse-overlayfs")
    _use_fuse(fuse)


def _use_fuse(path: str) -> None:
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise InvalidArgument("fuse-overlayfs needs /dev/fuse readable and writable by the user "
                              "(udev's default mode is 0666)")
    from hako.store.mount import use_fuse_overlayfs

    use_fuse_overlayfs(path)


def _overlay_refused(data_root: str) -> str:
    """Why a kernel overlay mount fails in a scratch dir under the data root, or ""."""
    import tempfile

    from hako.linux import syscalls
    from hako.linux.mount import unmount

    os.makedirs(data_root, mode=0o710, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="overlay-probe-", dir=data_root)
    try:
        dirs = {name: os.path.join(tmp, name) for name in ("lower", "upper", "work", "merged")}
        for path in dirs.values():
            os.mkdir(path)
        try:
            syscalls.mount("overlay", dirs["merged"], "overlay", 0,
                           f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']},"
                           "userxattr")
        except OSError as exc:
            return exc.strerror or str(exc)
        unmount(dirs["merged"])
        return ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
