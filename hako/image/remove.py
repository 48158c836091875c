"""Image removal with Docker's semantics (untag vs delete, hard and soft conflicts), and prune.

Hard conflicts (never forced): dependent child images, a running container.
Soft conflicts (forced with ``force``): other names, a stopped container.
Layer 4. May import: errors, support, oci, store.
"""

from __future__ import annotations

from typing import Any

from hako.errors import Conflict, NotFound
from hako.image import model
from hako.oci import imageconfig, reference
from hako.oci.digest import Digest
from hako.support.ids import short_id


def _users(fn, image_id: str) -> list[tuple[str, bool]]:
    if fn is None:
        return []
    out = []
    for item in fn(image_id) or []:
        if isinstance(item, (tuple, list)):
            out.append((str(item[0]), bool(item[1])))
        else:
            out.append((str(item), False))
    return out


def _is_single_reference(names: list[str]) -> bool:
    """All names in one repository with at most one tag (Docker's isSingleReference)."""
    if len(names) <= 1:
        return len(names) == 1
    refs = [reference.parse(n) for n in names]
    tags = [r for r in refs if r.digest is None]
    if len(tags) > 1:
        return False
    canonical = {r.name for r in refs if r.digest is not None}
    single = tags[0] if tags else refs[0]
    return len(canonical) == 1 and single.name in canonical


def _is_id_prefix(image_id: str, text: str) -> bool:
    return image_id.startswith(text) or image_id.split(":", 1)[1].startswith(text)


class Remover:
    def __init__(self, svc, containers_using) -> None:
        self.svc = svc
        self.meta = svc.meta
        self.using = lambda image_id: _users(containers_using, image_id)
        self.records: list[dict[str, str]] = []
        self.reclaimed = 0  # bytes of the layers actually removed

    def _untag(self, name: str) -> None:
        self.meta.remove_name(name)
        self.records.append({"Untagged": reference.parse(name).familiar()})

    def remove(self, text: str, force: bool, prune: bool) -> list[dict[str, str]]:
        image_id = self.svc.resolve(text)
        names = self.meta.names_of(image_id)
        quiet = False
        if not _is_id_prefix(image_id, text):
            users = self.using(image_id)
            if not force and _is_single_reference(names) and users:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{text}" (must force) - '
                    f"container {short_id(users[0][0])} is using its referenced image "
                    f"{short_id(image_id)}"
                )
            ref = reference.parse(text).with_default_tag()
            self._untag(str(ref))
            names = self.meta.names_of(image_id)
            if ref.digest is None:
                same_repo_tags = [n for n in names if reference.parse(n).digest is None
                                  and reference.parse(n).name == ref.name]
                if not same_repo_tags:
                    for n in [n for n in names if reference.parse(n).name == ref.name]:
                        self._untag(n)
                    names = self.meta.names_of(image_id)
            if names:
                return self.records
            quiet = True
        elif _is_single_reference(names):
            mask = {"child", "running"} if force else {"child", "running", "stopped"}
            conflict = self._conflict(image_id, mask)
            if conflict:
                raise conflict
            for n in names:
                self._untag(n)
        self._delete(image_id, force, prune, quiet)
        return self.records

    def _conflict(self, image_id: str, mask: set[str]) -> Conflict | None:
        def err(hard: bool, message: str) -> Conflict:
            how = "cannot be forced" if hard else "must be forced"
            exc = Conflict(f"conflict: unable to delete {short_id(image_id)} ({how}) - {message}")
            exc.used = "container" in message  # type: ignore[attr-defined]
            return exc

        users = self.using(image_id)
        if "child" in mask and self.meta.children(image_id):
            return err(True, "image has dependent child images")
        running = [u for u, r in users if r]
        if "running" in mask and running:
            return err(True, f"image is being used by running container {short_id(running[0])}")
        if "refs" in mask and self.meta.names_of(image_id):
            return err(False, "image is referenced in multiple repositories")
        stopped = [u for u, r in users if not r]
        if "stopped" in mask and stopped:
            return err(False, f"image is being used by stopped container {short_id(stopped[0])}")
        return None

    def _delete(self, image_id: str, force: bool, prune: bool, quiet: bool) -> None:
        mask = {"child", "running"} if force else {"child", "running", "refs", "stopped"}
        conflict = self._conflict(image_id, mask)
        if conflict:
            dangling = not self.meta.names_of(image_id) and not self.meta.children(image_id)
            if quiet and (not dangling or getattr(conflict, "used", False)):
                return
            raise conflict
        rec = self.meta.get_image(image_id)
        for n in self.meta.names_of(image_id):
            self._untag(n)
        self.meta.delete_image(image_id)
        self.records.append({"Deleted": image_id})
        self._release_layers(image_id, rec.manifest if rec is not None else "")
        if prune and rec is not None and rec.parent:
            if self.meta.get_image(rec.parent) is not None:
                self._delete(rec.parent, False, True, True)

    def _release_layers(self, image_id: str, manifest: str = "") -> None:
        digest = Digest.parse(image_id)
        try:
            raw = imageconfig.parse_config(self.svc.content.read_bytes(digest))
        except NotFound:
            return
        diff_ids = imageconfig.diff_ids(raw)
        used_chains, used_diffs = set(), set()
        for rec in self.meta.images():
            try:
                other = imageconfig.parse_config(self.svc.content.read_bytes(Digest.parse(rec.id)))
            except NotFound:
                continue
            ids_ = imageconfig.diff_ids(other)
            used_diffs.update(str(d) for d in ids_)
            used_chains.update(str(c) for c in imageconfig.chain_ids(ids_))
        for diff_id, chain in reversed(list(zip(diff_ids, imageconfig.chain_ids(diff_ids)))):
            if str(chain) in used_chains or self.svc.unpacker.is_pinned(chain):
                break  # lower layers are this one's parents: in use as well
            try:
                self.svc.sn.remove(str(chain))
                self.records.append({"Deleted": str(chain)})
            except NotFound:
                pass
            except Conflict:
                break  # a container (or other snapshot) still builds on it
            if str(diff_id) not in used_diffs:
                layer = self.meta.get_layer(str(diff_id))
                self.meta.remove_layer(str(diff_id))
                blobs = [d.digest for d in self.meta.distribution_of(str(diff_id))]
                if layer is not None:
                    self.reclaimed += layer.size
                    blobs.append(layer.blob)
                for blob in dict.fromkeys(blobs):
                    self._delete_blob(blob)
                    self.meta.remove_distribution(blob)
        self._delete_blob(image_id)
        if manifest:
            self._delete_blob(manifest)

    def _delete_blob(self, digest: str) -> None:
        """Delete a blob unless a pull or push holds a lease on it."""
        if self.svc.leases.held(digest):
            return
        try:
            self.svc.content.delete(Digest.parse(digest))
        except NotFound:
            pass


PRUNE_FILTERS = ("label", "label!", "until")


def _until_cutoff(value: str) -> float:
    """Docker's ``until``: a Unix timestamp, an RFC 3339 time or a duration before now.

    Raises:
        InvalidArgument: none of those.
    """
    import datetime as dt
    import time

    from hako.errors import InvalidArgument
    from hako.support.units import parse_duration

    try:
        return float(value)
    except ValueError:
        pass
    try:
        return time.time() - parse_duration(value)
    except (ValueError, InvalidArgument):
        pass
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidArgument(f"failed to parse value as time or duration: \"{value}\"") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _prunable(img, filters: dict[str, list[str]], cutoff: float | None) -> bool:
    if filters.get("label") and not model.match_labels(img, filters["label"]):
        return False
    if filters.get("label!") and any(model.match_labels(img, [w]) for w in filters["label!"]):
        return False
    return cutoff is None or model.created_unix(img.created) < cutoff


def prune(svc, dangling_only: bool, filters: dict[str, list[str]], containers_using) -> dict[str, Any]:
    """Remove dangling (or, with ``dangling_only=False``, all unused) images.

    Filters: ``label`` (all must match), ``label!`` (none may match), ``until``.

    Returns:
        ``{"ImagesDeleted": [...] or None, "SpaceReclaimed": bytes of removed layers}``.

    Raises:
        InvalidArgument: an unknown filter or a bad ``until`` value.
    """
    from hako.errors import InvalidArgument

    filters = {k: v for k, v in filters.items() if k != "dangling"}
    for key in filters:
        if key not in PRUNE_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    cutoff = min(_until_cutoff(v) for v in filters["until"]) if filters.get("until") else None
    deleted: list[dict[str, str]] = []
    reclaimed = 0
    for img in svc.list(all=True):
        if dangling_only and (img.repo_tags or img.repo_digests):
            continue
        if not _prunable(img, filters, cutoff) or _users(containers_using, img.id):
            continue
        if svc.meta.get_image(img.id) is None:  # went with a child pruned before it
            continue
        remover = Remover(svc, containers_using)
        try:
            remover._delete(img.id, False if dangling_only else True, True, False)
        except (Conflict, NotFound):
            continue
        deleted.extend(remover.records)
        reclaimed += remover.reclaimed
    return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}
