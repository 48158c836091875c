"""Commit: an active snapshot (a container's or a build step's rootfs) becomes an image layer.

``commit_snapshot`` writes the snapshot's changes (overlay upperdir, or the diff of a native
snapshot against its parent) as a deterministic layer tar (see ``hako.store.changes``),
unpacks it as a committed snapshot named by the new chain id (so containers of the new
image need no extraction) while the layer blob enters the content store, then records an
image config: the parent's layers and history plus one entry. ``commit_config`` records a
metadata-only image (history entry with ``empty_layer``). Neither removes the snapshot.

Layer tars are staged under ``<root>/tmp/`` (swept at start) and removed when done.

Layer 4. May import: errors, support, oci, store.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from typing import Any

from hako.errors import InvalidArgument
from hako.oci import imageconfig
from hako.oci.digest import Digest

#: history keys a caller may set (besides ``created``, which commit decides)
_HISTORY_KEYS = ("author", "created_by", "comment")


def source_date_epoch(value: int | None = None) -> int | None:
    """The SOURCE_DATE_EPOCH to use: ``value`` or the environment's, else None.

    Raises:
        InvalidArgument: the environment variable is not a non-negative integer.
    """
    if value is not None:
        return int(value)
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return None
    try:
        epoch = int(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid SOURCE_DATE_EPOCH: {text!r}") from exc
    if epoch < 0:
        raise InvalidArgument(f"invalid SOURCE_DATE_EPOCH: {text!r}")
    return epoch


def _rfc3339(epoch: int | None) -> str:
    if epoch is None:
        return imageconfig.now_rfc3339()
    when = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parent_doc(svc, parent: str | None) -> tuple[str, dict[str, Any] | None]:
    if not parent:
        return "", None
    parent_id = svc.resolve(parent)
    return parent_id, imageconfig.parse_config(svc.content.read_bytes(Digest.parse(parent_id)))


def _history_entry(history: dict[str, Any], created: str, empty: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"created": created}
    for key in _HISTORY_KEYS:
        if history.get(key):
            entry[key] = history[key]
    if empty or history.get("empty_layer"):
        entry["empty_layer"] = True
    return entry


def build_config(svc, *, parent: str | None, config: dict, history: dict,
                 new_diff_ids: list[Digest], empty_layer: bool,
                 container_config: dict | None = None, container_id: str = "",
                 author: str = "", comment: str = "", epoch: int | None = None) -> dict[str, Any]:
    """The image config document of a commit on top of ``parent``.

    Returns:
        The config dict (Docker's key order), ``parent`` holding the parent image id.
    """
    parent_id, pdoc = _parent_doc(svc, parent)
    if pdoc is not None:
        os_name, arch, variant = pdoc.get("os", "linux"), pdoc.get("architecture", ""), pdoc.get("variant", "")
        diff_ids = imageconfig.diff_ids(pdoc)
        past = [dict(h) for h in pdoc.get("history") or []]
    else:
        os_name, arch, variant = imageconfig.host_platform()
        diff_ids, past = [], []
    created = _rfc3339(epoch)
    doc = imageconfig.new_config(
        architecture=arch or imageconfig.host_platform()[1], os_name=os_name, variant=variant,
        config=config, diff_ids_=diff_ids + list(new_diff_ids), created=created,
        author=author, comment=comment,
        history=past + [_history_entry(history, created, empty_layer)],
    )
    if container_id:
        doc["container"] = container_id
    if container_config is not None:
        full = imageconfig.default_container_config()
        full.update(container_config)
        doc["container_config"] = full
    if parent_id:
        doc["parent"] = parent_id
    from hako import __version__

    doc["docker_version"] = __version__
    return {k: doc[k] for k in sorted(doc)}


#: mount points the runtime creates for a container when the image lacks them; Docker keeps
#: them in the container's init layer, so a commit (or a RUN step) never holds them
_MOUNT_POINTS = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv", "/dev/console",
                 "/dev/pts", "/dev/shm", "/dev/mqueue", "/proc", "/sys"}


def _is_mount_point_stub(root: str, change) -> bool:
    """An added, empty file or directory at one of Docker's init-layer paths."""
    from hako.store.changes import Kind

    if change.kind != Kind.ADDED or change.path not in _MOUNT_POINTS:
        return False
    full = os.path.join(root, change.path.lstrip("/"))
    try:
        if os.path.isdir(full) and not os.path.islink(full):
            return not os.listdir(full)
        return os.path.isfile(full) and not os.path.islink(full) and os.path.getsize(full) == 0
    except OSError:
        return False


def write_snapshot_layer(svc, key: str, out, epoch: int | None, ids=None) -> None:
    """Write the layer tar of the rootfs snapshot prepared for ``key`` into ``out``
    (without the runtime's mount-point stubs, as Docker's init layer hides them); ``ids``
    maps the owners found on disk (see ``changes.write_layer``)."""
    from hako.image import rootfs
    from hako.store import changes as chg

    root = svc.sn.fs_dir(rootfs.key_for(key))
    changes = [c for c in rootfs.changes(svc, key) if not _is_mount_point_stub(root, c)]
    chg.write_layer(changes, root, out, clamp_mtime=epoch, ids=ids)


def commit_snapshot(svc, key: str, *, parent: str | None, config: dict, history: dict,
                    container_config: dict | None = None, container_id: str = "",
                    author: str = "", comment: str = "",
                    source_date_epoch_: int | None = None, ids=None):
    """See ``ImageService.commit_snapshot``. Returns the new Image."""
    epoch = source_date_epoch(source_date_epoch_)
    parent_id, pdoc = _parent_doc(svc, parent)
    parent_chain = imageconfig.chain_id(imageconfig.diff_ids(pdoc)) if pdoc else None
    tmpdir = os.path.join(svc.root, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=tmpdir) as staged:
        write_snapshot_layer(svc, key, staged, epoch, ids)
        staged.seek(0)
        with svc.unpacker.pinned():  # the image lock is taken only for the chain commit
            unpacked = svc.unpacker.unpack(parent_chain, staged)
            doc = build_config(
                svc, parent=parent_id or None, config=config, history=history,
                new_diff_ids=[unpacked.diff_id], empty_layer=False,
                container_config=container_config, container_id=container_id, author=author,
                comment=comment, epoch=epoch,
            )
            image_id, _ = svc.add_image(imageconfig.serialize(doc), parent=parent_id)
    return svc._image(image_id)


def commit_config(svc, *, parent: str | None, config: dict, history: dict,
                  container_config: dict | None = None, source_date_epoch_: int | None = None):
    """See ``ImageService.commit_config``. Returns the new Image."""
    epoch = source_date_epoch(source_date_epoch_)
    parent_id, _ = _parent_doc(svc, parent)
    doc = build_config(
        svc, parent=parent_id or None, config=config, history=history, new_diff_ids=[],
        empty_layer=True, container_config=container_config, epoch=epoch,
    )
    image_id, _ = svc.add_image(imageconfig.serialize(doc), parent=parent_id)
    return svc._image(image_id)


def merge_container_config(user: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """Docker's commit ``merge``: fill what the user config leaves unset from the container's.

    Args:
        user: the request's config with ``changes`` applied (mutated copy returned).
        container: the container's config (its defaults).

    Returns:
        The new image's ``config`` object.
    """
    import copy

    out = copy.deepcopy(user or {})
    base = container or {}
    if not out.get("User"):
        out["User"] = base.get("User", "")
    ports = dict(base.get("ExposedPorts") or {})
    ports.update(out.get("ExposedPorts") or {})
    out["ExposedPorts"] = ports or None
    env = list(out.get("Env") or [])
    keys = {e.split("=", 1)[0] for e in env}
    env += [e for e in base.get("Env") or [] if e.split("=", 1)[0] not in keys]
    out["Env"] = env or None
    labels = dict(base.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = base.get("Cmd")
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = base.get("Entrypoint")
    if base.get("Healthcheck"):
        health = dict(base["Healthcheck"])
        health.update({k: v for k, v in (out.get("Healthcheck") or {}).items() if v})
        out["Healthcheck"] = health
    if not out.get("WorkingDir"):
        out["WorkingDir"] = base.get("WorkingDir", "")
    volumes = dict(out.get("Volumes") or {})
    volumes.update(base.get("Volumes") or {})
    out["Volumes"] = volumes or None
    if not out.get("StopSignal") and base.get("StopSignal"):
        out["StopSignal"] = base["StopSignal"]
    return out


def container_commit_config(body: dict[str, Any] | None, changes: list[str],
                            container: dict[str, Any]) -> dict[str, Any]:
    """The config of ``POST /commit``: body config, then ``changes``, then merge.

    Raises:
        InvalidArgument: a bad change instruction.
    """
    from hako.image.changes import apply_changes

    user = apply_changes(body or {}, changes)
    return merge_container_config(user, container)
