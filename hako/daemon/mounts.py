"""A container's mount points: Binds, Mounts, VolumesFrom and Config.Volumes, as Docker.

At create (``plan``), the request becomes a list of mount points stored in the container
record (``Container.mounts``), in moby's order (``registerMountPoints`` then the image's and
the request's ``Volumes``): ``VolumesFrom`` first, then ``Binds``, then ``Mounts`` (a later
one replaces an earlier one at the same destination, except that two Binds or two Mounts at
one destination are ``Duplicate mount point``), then an anonymous volume for every
``Config.Volumes`` destination nothing else mounts. Named volumes are created on first use;
every volume a record names is acquired from the VolumeService, so it is never removed while
the record exists.

A mount point is Docker's inspect ``MountPoint`` (Type, Name, Source, Destination, Driver,
Mode, RW, Propagation) plus hako's bookkeeping: ``Named`` (``rm -v`` keeps named volumes),
``CopyData`` (copy the image's content into an empty volume; done at create) and
``Tmpfs`` (size and mode of a ``--mount type=tmpfs``).

At create (``copy_up_at_create``) empty volumes are filled from the image. At start
(``oci_mounts``) each mount point becomes an OCI bind (or tmpfs) mount; the runtime
makes and mounts every destination inside the rootfs through descriptors.

Layer: daemon (6).
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from hako.errors import InvalidArgument
from hako.volume.service import VolumeService, check_driver

_RW = {"ro", "rw"}
_LABEL = {"z", "Z"}
_PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}
_COPY = {"nocopy"}
_CONSISTENCY = {"consistent", "cached", "delegated"}


def _invalid_spec(raw: str) -> InvalidArgument:
    return InvalidArgument(f"invalid volume specification: '{raw}'")


def _mount_config(kind: str, why: str) -> str:
    return f'invalid mount config for type "{kind}": {why}'


def _check_target(target: str, kind: str) -> str | None:
    if not target:
        return _mount_config(kind, "field Target must not be empty")
    if not target.startswith("/"):
        return _mount_config(kind, f"invalid mount path: '{target}' mount path must be absolute")
    if posixpath.normpath(target) == "/":
        return _mount_config(kind, "invalid specification: destination can't be '/'")
    return None


def _parse_mode(raw: str, mode: str) -> dict[str, Any]:
    words = mode.split(",") if mode else []
    groups = {"rw": 0, "label": 0, "prop": 0, "copy": 0, "cons": 0}
    out: dict[str, Any] = {"ro": False, "propagation": "", "copy": True}
    for w in words:
        if w in _RW:
            groups["rw"] += 1
            out["ro"] = w == "ro"
        elif w in _LABEL:
            groups["label"] += 1
        elif w in _PROPAGATION:
            groups["prop"] += 1
            out["propagation"] = w
        elif w in _COPY:
            groups["copy"] += 1
            out["copy"] = False
        elif w in _CONSISTENCY:
            groups["cons"] += 1
        else:
            raise InvalidArgument(f"invalid mode: {mode}")
    if any(n > 1 for n in groups.values()):
        raise InvalidArgument(f"invalid mode: {mode}")
    return out


def parse_bind(raw: str) -> dict[str, Any]:
    """One ``HostConfig.Binds`` entry → a mount point (moby's ParseMountRaw for Linux).

    Raises:
        InvalidArgument: Docker's ``invalid volume specification`` / ``invalid mode`` texts.
    """
    parts = raw.split(":")
    if not raw or parts[0] == "" or len(parts) > 3:
        raise _invalid_spec(raw)
    mode = ""
    if len(parts) == 1:
        source, target = "", parts[0]
    elif len(parts) == 2:
        if all(w in _RW | _LABEL | _PROPAGATION | _COPY | _CONSISTENCY for w in parts[1].split(",")):
            raise _invalid_spec(raw)  # "/dst:rw": a volume with no source cannot have a mode
        source, target = parts
    else:
        source, target, mode = parts
    opts = _parse_mode(raw, mode)
    kind = "bind" if source.startswith("/") else "volume"
    why = _check_target(target, kind)
    if why:
        raise InvalidArgument(f"invalid volume specification: '{raw}': {why}")
    if kind == "bind" and opts["propagation"] == "" :
        opts["propagation"] = "rprivate"
    if kind == "volume" and opts["propagation"] not in ("",):
        raise InvalidArgument(f"invalid volume specification: '{raw}': "
                              + _mount_config(kind, "field BindOptions must not be specified"))
    return {
        "Type": kind, "Name": source if kind == "volume" else "", "Source": source,
        "Destination": posixpath.normpath(target), "Driver": "",
        "Mode": mode if kind == "bind" else (mode or ("z" if source else "")),
        "RW": not opts["ro"], "Propagation": opts["propagation"] if kind == "bind" else "",
        "Named": bool(source), "CopyData": opts["copy"] and kind == "volume",
        "CreateSource": kind == "bind",
    }


def parse_mount(m: dict[str, Any]) -> dict[str, Any]:
    """One ``HostConfig.Mounts`` entry → a mount point (moby's validateMountConfig).

    Raises:
        InvalidArgument: ``invalid mount config for type "…": …``.
    """
    kind = m.get("Type") or ""
    source, target = m.get("Source") or "", m.get("Target") or ""
    bind, vol, tmpfs = m.get("BindOptions"), m.get("VolumeOptions"), m.get("TmpfsOptions")
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(_mount_config(kind, "mount type unknown"))
    why = _check_target(target, kind)
    if why:
        raise InvalidArgument(why)
    ro = bool(m.get("ReadOnly"))
    point: dict[str, Any] = {"Type": kind, "Name": "", "Source": source,
                             "Destination": posixpath.normpath(target), "Driver": "",
                             "Mode": "", "RW": not ro, "Propagation": "", "Named": bool(source),
                             "CopyData": False, "CreateSource": False}
    if kind == "bind":
        if not source:
            raise InvalidArgument(_mount_config(kind, "field Source must not be empty"))
        if vol:
            raise InvalidArgument(_mount_config(kind, "field VolumeOptions must not be specified"))
        if tmpfs:
            raise InvalidArgument(_mount_config(kind, "field TmpfsOptions must not be specified"))
        if not source.startswith("/"):
            raise InvalidArgument(_mount_config(
                kind, f"invalid mount path: '{source}' mount path must be absolute"))
        if not os.path.exists(source):
            raise InvalidArgument(_mount_config(kind, f"bind source path does not exist: {source}"))
        prop = (bind or {}).get("Propagation") or "rprivate"
        if prop not in _PROPAGATION:
            raise InvalidArgument(_mount_config(kind, f"invalid propagation mode: {prop}"))
        point["Propagation"] = prop
        if (bind or {}).get("NonRecursive"):
            point["NonRecursive"] = True
    elif kind == "volume":
        if bind:
            raise InvalidArgument(_mount_config(kind, "field BindOptions must not be specified"))
        if tmpfs:
            raise InvalidArgument(_mount_config(kind, "field TmpfsOptions must not be specified"))
        driver = ((vol or {}).get("DriverConfig") or {}).get("Name") or "local"
        point.update(Name=source, Driver=driver, CopyData=not (vol or {}).get("NoCopy"),
                     Mode="z" if source else "")
        point["VolumeLabels"] = dict((vol or {}).get("Labels") or {})
        point["VolumeOptions"] = dict(((vol or {}).get("DriverConfig") or {}).get("Options") or {})
    else:
        if source:
            raise InvalidArgument(_mount_config(kind, "field Source must not be specified"))
        if bind:
            raise InvalidArgument(_mount_config(kind, "field BindOptions must not be specified"))
        if vol:
            raise InvalidArgument(_mount_config(kind, "field VolumeOptions must not be specified"))
        point["Tmpfs"] = {"SizeBytes": int((tmpfs or {}).get("SizeBytes") or 0),
                          "Mode": int((tmpfs or {}).get("Mode") or 0)}
    return point


def _volumes_from(spec: str, lookup: Any) -> list[dict[str, Any]]:
    name, _, mode = spec.partition(":")
    if mode and mode not in _RW:
        raise InvalidArgument(f"invalid mode: {mode}")
    source = lookup(name)
    out = []
    for mp in source.mounts:
        copy = dict(mp)
        if mode:
            copy["RW"] = mode == "rw"
            if copy["Type"] == "bind":
                copy["Mode"] = mode
        copy["CopyData"] = False
        copy["CreateSource"] = False
        out.append(copy)
    return out


def plan(conf: dict[str, Any], hc: dict[str, Any], lookup: Any) -> list[dict[str, Any]]:
    """The mount points of a container being created (no volume is touched here).

    Args:
        conf: the merged Config (``Volumes`` holds the image's and the request's).
        hc: the HostConfig.
        lookup: container name or id → Container (``--volumes-from``).

    Raises:
        InvalidArgument, ContainerNotFound: as Docker.
    """
    points: dict[str, dict[str, Any]] = {}
    for spec in hc.get("VolumesFrom") or []:
        for mp in _volumes_from(spec, lookup):
            points[mp["Destination"]] = mp
    seen: set[str] = set()
    for raw in hc.get("Binds") or []:
        mp = parse_bind(raw)
        if mp["Destination"] in seen:
            raise InvalidArgument(f"Duplicate mount point: {mp['Destination']}")
        seen.add(mp["Destination"])
        points[mp["Destination"]] = mp
    seen_mounts: set[str] = set()
    for m in hc.get("Mounts") or []:
        mp = parse_mount(m)
        if mp["Destination"] in seen or mp["Destination"] in seen_mounts:
            raise InvalidArgument(f"Duplicate mount point: {mp['Destination']}")
        seen_mounts.add(mp["Destination"])
        points[mp["Destination"]] = mp
    driver = hc.get("VolumeDriver") or "local"
    for dest in (conf.get("Volumes") or {}):
        why = _check_target(dest, "volume")
        if why:
            raise InvalidArgument(f"invalid volume specification: '{dest}': {why}")
        dest = posixpath.normpath(dest)
        if dest in points:
            continue
        points[dest] = {"Type": "volume", "Name": "", "Source": "", "Destination": dest,
                        "Driver": driver, "Mode": "", "RW": True, "Propagation": "",
                        "Named": False, "CopyData": True, "CreateSource": False}
    for mp in points.values():
        if mp["Type"] == "volume" and not mp.get("Driver"):
            mp["Driver"] = driver
    return list(points.values())


def acquire(volumes: VolumeService, cid: str, points: list[dict[str, Any]]) -> None:
    """Create the volumes the mount points name (anonymous ones get a fresh name) and take
    a reference for ``cid``. On failure the references taken are released.

    Raises:
        NotFound: unknown driver. InvalidArgument: bad volume name or options.
    """
    from hako.support import ids

    taken: list[str] = []
    try:
        for mp in points:
            if mp["Type"] != "volume":
                continue
            check_driver(mp["Name"] or "", mp["Driver"])
            if not mp["Name"]:
                mp["Name"] = ids.new_id()
            try:
                vol = volumes.get(mp["Name"])
            except Exception:  # noqa: BLE001 - created on first use
                vol = volumes.create(mp["Name"], mp["Driver"], mp.pop("VolumeOptions", None),
                                     mp.pop("VolumeLabels", None), anonymous=not mp["Named"])
            mp.pop("VolumeOptions", None)
            mp.pop("VolumeLabels", None)
            volumes.acquire(vol.name, cid)
            taken.append(vol.name)
            mp["Source"] = vol.mountpoint
            mp["Driver"] = "local"
    except BaseException:
        volumes.release(cid, taken)
        raise


def volume_names(points: list[dict[str, Any]]) -> list[str]:
    return [mp["Name"] for mp in points if mp["Type"] == "volume" and mp.get("Name")]


def inspect_json(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Docker's ``Mounts`` of container inspect and list."""
    out = []
    for mp in points:
        doc = {"Type": mp["Type"]}
        if mp["Type"] == "volume":
            doc["Name"] = mp["Name"]
        doc.update(Source=mp["Source"], Destination=mp["Destination"])
        if mp["Type"] == "volume":
            doc["Driver"] = mp["Driver"]
        doc.update(Mode=mp["Mode"], RW=mp["RW"], Propagation=mp["Propagation"])
        out.append(doc)
    return out


# -- start -------------------------------------------------------------------------------
def prepare(volumes: VolumeService, cid: str, points: list[dict[str, Any]], rootfs: str) -> bool:
    """Before a start: option mounts of volumes, legacy bind sources made, and the image's
    content copied into empty volumes (once). Returns whether a mount point changed (the
    record must be saved)."""
    changed = False
    for mp in points:
        if mp["Type"] == "volume":
            volumes.mount(mp["Name"], cid)
            if mp.get("CopyData"):
                copy_up(rootfs, mp["Destination"], mp["Source"])
                mp["CopyData"] = False
                changed = True
        elif mp["Type"] == "bind" and mp.get("CreateSource") and not os.path.exists(mp["Source"]):
            os.makedirs(mp["Source"], 0o755, exist_ok=True)
    return changed


def layer_dirs(rootfs_mounts: list[Any]) -> list[str] | None:
    """The directories an overlay (or bind) rootfs is made of, or None when unknown."""
    dirs: list[str] = []
    for m in rootfs_mounts:
        if m.type == "overlay":
            for opt in m.options:
                key, _, value = opt.partition("=")
                if key == "lowerdir":
                    dirs += value.split(":")
                elif key == "upperdir":
                    dirs.append(value)
        elif m.is_bind():
            dirs.append(m.source)
        else:
            return None
    return dirs


def image_may_have(dirs: list[str] | None, destination: str) -> bool:
    """Whether any layer has an entry named like the destination's first component (the
    cheap test that lets a create skip mounting the rootfs when no copy-up can happen)."""
    if dirs is None:
        return True
    first = destination.strip("/").split("/")[0]
    return any(os.path.lexists(os.path.join(d, first)) for d in dirs)


def copy_up_at_create(volumes: VolumeService, cid: str, points: list[dict[str, Any]],
                      rootfs_mounts: list[Any], mount_rootfs: Any, unmount_rootfs: Any) -> None:
    """moby's populateVolumes: fill empty volumes from the image at create. The rootfs is
    mounted only when some layer may hold content at a volume's destination."""
    pending = [mp for mp in points if mp["Type"] == "volume" and mp.get("CopyData")]
    if not pending:
        return
    dirs = layer_dirs(rootfs_mounts)
    wanted = [mp for mp in pending if image_may_have(dirs, mp["Destination"])]
    for mp in pending:
        mp["CopyData"] = False
    if not wanted:
        return
    rootfs = mount_rootfs()
    try:
        for mp in wanted:
            volumes.mount(mp["Name"], cid)
            copy_up(rootfs, mp["Destination"], mp["Source"])
    finally:
        unmount_rootfs()


def release_mounts(volumes: VolumeService, cid: str, points: list[dict[str, Any]]) -> None:
    """After an exit: undo option mounts no running container needs any more."""
    for name in volume_names(points):
        volumes.unmount(name, cid)


def oci_mounts(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The OCI spec mounts of the mount points (Docker's: rbind + propagation, ro)."""
    from hako.runtime.specgen import tmpfs_mount

    out = []
    for mp in points:
        if mp["Type"] == "tmpfs":
            data = []
            tmp = mp.get("Tmpfs") or {}
            if tmp.get("SizeBytes"):
                data.append(f"size={tmp['SizeBytes']}")
            if tmp.get("Mode"):
                data.append(f"mode={tmp['Mode']:o}")
            if not mp["RW"]:
                data.append("ro")
            out.append(tmpfs_mount(mp["Destination"], ",".join(data)))
            continue
        options = ["bind" if mp.get("NonRecursive") else "rbind",
                   mp["Propagation"] or "rprivate"]
        if not mp["RW"]:
            options.append("ro")
        out.append({"destination": mp["Destination"], "type": "bind", "source": mp["Source"],
                    "options": options})
    return out


def copy_up(rootfs: str, destination: str, volume_dir: str) -> None:
    """Copy the image's content at ``destination`` into an empty volume, with owners, modes,
    extended attributes, times and hard links (moby's copyExistingContents): the path is
    resolved inside the rootfs through descriptors, and the tree is copied between open
    directories by the kernel (``support.treecopy``), never through a host path an image
    symlink could redirect. Nothing happens when the volume is not empty or the image has
    no directory there."""
    from hako.support import treecopy
    from hako.support.fsroot import Root

    dirflags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    dst = os.open(volume_dir, dirflags | os.O_NOFOLLOW)
    try:
        with os.scandir(dst) as it:
            if next(it, None) is not None:
                return
        with Root(rootfs) as root:
            try:
                where = root.open_dir(destination.lstrip("/"))
            except (FileNotFoundError, InvalidArgument):
                return
        try:
            src = os.open(".", dirflags, dir_fd=where)
        finally:
            os.close(where)
        try:
            treecopy.copy_tree(src, dst)
            treecopy.copy_attrs(src, dst, os.fstat(src))
        except OSError as exc:
            raise InvalidArgument(f"copying {destination} into its volume: "
                                  f"{exc.strerror or exc}") from None
        finally:
            os.close(src)
    finally:
        os.close(dst)
