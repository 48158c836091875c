"""ImageService: the engine's one entry point for images.

Resolves names, ids and id prefixes like Docker; lists, tags, removes, imports, saves and
loads images; prepares container root filesystems on top of image layers.

On-disk layout (under the data root)::

    content/          LocalContentStore: configs, manifests, layer tars (uncompressed, by
                      diff id) and compressed layer blobs (pulled, or gzipped for a push)
    image/metadata.db MetadataStore: images, names, layers (schema-versioned sqlite)
    snapshots/<n>/    snapshotter directories; snapshots.db its bookkeeping

Layer 4. May import: errors, support, oci, opts, store.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from hako.errors import ImageNotFound, InvalidArgument, NotFound
from hako.image import model
from hako.image.model import Image
from hako.oci import imageconfig, reference
from hako.oci.digest import Digest
from hako.image.registries import RegistryOptions
from hako.store.content import LocalContentStore
from hako.store.leases import LeaseManager
from hako.store.metadata import MetadataStore
from hako.store.mount import Mount
from hako.support import ids

ContainersUsing = Callable[[str], list]


def _overlay_supported() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def make_snapshotter(root: str, kind: str = "auto"):
    """Build the snapshotter for ``root``: "overlay", "native" or "auto"."""
    if kind == "auto":
        kind = "overlay" if _overlay_supported() else "native"
    if kind == "overlay":
        from hako.store.snapshots.overlay import OverlaySnapshotter

        return OverlaySnapshotter(root)
    if kind == "native":
        from hako.store.snapshots.native import NativeSnapshotter

        return NativeSnapshotter(root)
    raise InvalidArgument(f"unknown snapshotter {kind!r}")


class ImageService:
    """See the module docstring. All public methods are blocking and thread-safe.

    ``lock`` guards metadata decisions (tag, add, remove, prune, garbage collection, chain
    commits); it is never held across a whole load, import, commit or layer extraction.

    Construction recovers from a crash: interrupted extractions, ingests, orphaned blobs and
    snapshots are swept (``recover=False`` skips that).
    """

    def __init__(self, root: str, snapshotter: Any = "auto", recover: bool = True,
                 registries: "RegistryOptions | None" = None) -> None:
        from hako.image.unpack import Unpacker

        self.root = root
        os.makedirs(os.path.join(root, "image"), exist_ok=True)
        self.content = LocalContentStore(os.path.join(root, "content"))
        self.meta = MetadataStore(os.path.join(root, "image", "metadata.db"))
        self.sn = make_snapshotter(root, snapshotter) if isinstance(snapshotter, str) else snapshotter
        self.lock = threading.RLock()
        self.leases = LeaseManager()
        self.registries = registries or RegistryOptions()
        self.unpacker = Unpacker(self.content, self.meta, self.sn, self.lock)
        if recover:
            self.collect_garbage()

    def collect_garbage(self):
        """Sweep what no image or container needs (leftovers of a crash included).

        Returns:
            a ``hako.store.gc.Report``.
        """
        from hako.store import gc

        with self.lock:
            report = gc.collect(self.content, self.meta, self.sn,
                                leased=self.leases.snapshot())
        import shutil

        tmp = os.path.join(self.root, "tmp")
        _detach_mounts_under(tmp)  # a build step's mount a killed daemon left: never rmtree
        shutil.rmtree(tmp, ignore_errors=True)  # through it into a snapshot
        return report

    @property
    def driver_name(self) -> str:
        """Docker's GraphDriver name for this store."""
        if getattr(self.sn, "whiteout_format", "") != "overlay":
            return "vfs"
        from hako.store.mount import fuse_overlayfs

        return "fuse-overlayfs" if fuse_overlayfs() else "overlay2"

    def close(self) -> None:
        self.meta.close()
        self.sn.close()

    # -- reading ---------------------------------------------------------------------------
    def _image(self, image_id: str, names: list[str] | None = None) -> Image:
        rec = self.meta.get_image(image_id)
        if rec is None:
            raise ImageNotFound(f"No such image: {image_id}")
        raw = imageconfig.parse_config(self.content.read_bytes(Digest.parse(image_id)))
        names = self.meta.names_of(image_id) if names is None else names
        tags, digests = [], []
        for name in names:
            ref = reference.parse(name)
            (digests if ref.digest is not None else tags).append(ref.familiar())
        layers = tuple((raw.get("rootfs") or {}).get("diff_ids") or [])
        size = sum((self.meta.get_layer(d) or _NOLAYER).size for d in layers)
        return Image(
            id=image_id, repo_tags=tuple(tags), repo_digests=tuple(digests),
            parent=rec.parent, created=raw.get("created", ""),
            config=raw.get("config") or {}, size=size, virtual_size=size, layers=layers,
            comment=raw.get("comment", ""), author=raw.get("author", ""),
            docker_version=raw.get("docker_version", ""), os=raw.get("os", "linux"),
            architecture=raw.get("architecture", ""), variant=raw.get("variant", ""),
            container=raw.get("container", ""),
            container_config=raw.get("container_config") or {},
            history=tuple(raw.get("history") or ()), last_tag_time=rec.last_tag_time, raw=raw,
        )

    def resolve(self, ref_or_id: str) -> str:
        """Image id for a reference, full id, ``sha256:`` id, or unique id prefix.

        Raises:
            ImageNotFound: ``No such image: <familiar ref>``.
            InvalidArgument: malformed reference; AmbiguousPrefix for a shared prefix.
        """
        text = ref_or_id.strip()
        if ids.is_full_id(text) or (text.startswith("sha256:") and ids.is_full_id(text[7:])):
            image_id = text if text.startswith("sha256:") else "sha256:" + text
            if self.meta.get_image(image_id) is not None:
                return image_id
            raise ImageNotFound(f"No such image: {image_id}")
        ref = reference.parse(text)
        found = self.meta.resolve(str(ref.with_default_tag()))
        if found:
            return found
        known = {r.id for r in self.meta.images()}  # only for a prefix: every create asks by name
        prefix = text[7:] if text.startswith("sha256:") else text
        match = ids.match_prefix(prefix, [k[7:] for k in known], kind="image")
        if match:
            return "sha256:" + match
        raise ImageNotFound(f"No such image: {ref.with_default_tag().familiar()}")

    def get(self, ref_or_id: str) -> Image:
        """The image for a reference or id (see :meth:`resolve`)."""
        return self._image(self.resolve(ref_or_id))

    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[Image]:
        """Images, newest first, filtered like ``GET /images/json``.

        Raises:
            InvalidArgument: unknown filter, or bad ``dangling`` value.
        """
        filters = filters or {}
        model.check_filters(filters)
        names = self.meta.all_names()
        images = [self._image(r.id, names.get(r.id, [])) for r in self.meta.images()]
        bounds = {k: self.get(filters[k][0]).created for k in ("before", "since") if filters.get(k)}
        out = []
        for img in images:
            untagged = not img.repo_tags and not img.repo_digests
            if not all and untagged and self.meta.children(img.id):
                continue
            if filters.get("dangling"):
                want = filters["dangling"][0].lower() in ("true", "1")
                if want != untagged:
                    continue
            if filters.get("label") and not model.match_labels(img, filters["label"]):
                continue
            if filters.get("reference"):
                if not model.match_reference(img, filters["reference"]):
                    continue
                img = model.only_matching_refs(img, filters["reference"])
            ts = model.created_unix(img.created)
            if "before" in bounds and ts >= model.created_unix(bounds["before"]):
                continue
            if "since" in bounds and ts <= model.created_unix(bounds["since"]):
                continue
            out.append(img)
        out.sort(key=lambda i: (model.created_unix(i.created), i.id), reverse=True)
        return out

    def history(self, ref_or_id: str) -> list[dict[str, Any]]:
        """Docker's history entries, newest first (``GET /images/{name}/history``).

        Raises:
            ImageNotFound.
        """
        img = self.get(ref_or_id)
        sizes = [(self.meta.get_layer(d) or _NOLAYER).size for d in img.layers]
        out, layer = [], 0
        for h in img.history:
            size = 0
            if not h.get("empty_layer"):
                size = sizes[layer] if layer < len(sizes) else 0
                layer += 1
            out.append({
                "Id": "<missing>", "Created": model.created_unix(h.get("created", "")),
                "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": size,
                "Comment": h.get("comment", ""),
            })
        if not out:
            out.append({"Id": "<missing>", "Created": model.created_unix(img.created),
                        "CreatedBy": "", "Tags": None, "Size": img.size, "Comment": ""})
        out.reverse()
        self._fill_history_ids(img, out)
        return out

    def _fill_history_ids(self, img: Image, out: list[dict[str, Any]]) -> None:
        """Docker's walk up the parent chain: entry n gets the n-th ancestor's id and tags;
        entries past the last local ancestor keep ``<missing>``."""
        current: Image | None = img
        for entry in out:
            if current is None:
                break
            entry["Id"] = current.id
            entry["Tags"] = list(current.repo_tags) or None
            parent = current.parent
            current = None
            if parent and self.meta.get_image(parent) is not None:
                current = self._image(parent)

    # -- writing ---------------------------------------------------------------------------
    def tag(self, source: str, repo: str, tag: str = "") -> str:
        """Point ``repo[:tag]`` at ``source``'s image. Returns the familiar new name.

        Raises:
            ImageNotFound, InvalidArgument (bad repo/tag, digest references).
        """
        ref = reference.parse(repo)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        if tag:
            ref = ref.with_tag(tag)
        ref = ref.with_default_tag()
        with self.lock:
            image_id = self.resolve(source)
            self.meta.set_name(str(ref), image_id, imageconfig.now_rfc3339())
        return ref.familiar()

    def add_image(self, config_bytes: bytes, names: tuple[str, ...] = (), parent: str = "",
                  manifest: str = "") -> tuple[str, list[tuple[str, str]]]:
        """Record an image whose layers are already unpacked.

        Args:
            config_bytes: the exact config blob (its digest is the image id).
            names: full normalized references to point at the image.

        Returns:
            (image id, [(name, previous image id)] for names taken from another image).
        """
        imageconfig.parse_config(config_bytes)
        digest = self.content.put_bytes(config_bytes)
        tag_time = imageconfig.now_rfc3339() if names else ""
        with self.lock:
            moved = self.meta.add_image(str(digest), manifest, parent, names, tag_time)
        return str(digest), moved

    def import_tar(self, fileobj: BinaryIO, repo_tag: str = "", changes: list[str] | None = None,
                   message: str = "", platform: str = "", source: str = "-") -> Image:
        """``docker import``: a rootfs tarball becomes a one-layer image.

        Raises:
            InvalidArgument: bad reference, change command or unsafe tar.
        """
        from hako.image.changes import apply_changes

        ref = reference.parse(repo_tag).with_default_tag() if repo_tag else None
        os_name, arch, variant = _platform(platform)
        cfg = apply_changes(imageconfig.default_container_config(), changes or [])
        with self.unpacker.pinned():  # the layer stays until the image references it
            unpacked = self.unpacker.unpack(None, fileobj)
            created = imageconfig.now_rfc3339()
            msg = message or f"Imported from {source}"
            doc = imageconfig.new_config(
                architecture=arch, os_name=os_name, variant=variant, config=cfg,
                diff_ids_=[unpacked.diff_id], created=created, comment=msg,
                history=[{"created": created, "comment": msg}],
            )
            doc["container_config"] = imageconfig.default_container_config()
            doc = {k: doc[k] for k in sorted(doc)}
            image_id, _ = self.add_image(imageconfig.serialize(doc), (str(ref),) if ref else ())
        return self._image(image_id)

    def remove(self, ref_or_id: str, force: bool = False, noprune: bool = False,
               containers_using: ContainersUsing | None = None) -> list[dict[str, str]]:
        """``docker rmi`` with Docker's untag/delete/conflict semantics.

        Args:
            containers_using: image id → containers using it; items are ids (stopped) or
                ``(id, running)`` tuples.

        Returns:
            ``{"Untagged": name}`` and ``{"Deleted": id}`` items.

        Raises:
            ImageNotFound; Conflict with Docker's ``conflict: unable to …`` texts.
        """
        from hako.image.remove import Remover

        with self.lock:
            return Remover(self, containers_using).remove(ref_or_id, force, not noprune)

    def prune(self, dangling_only: bool = True, filters: dict[str, list[str]] | None = None,
              containers_using: ContainersUsing | None = None) -> dict[str, Any]:
        """Remove unused images. Returns ``{"ImagesDeleted": [...], "SpaceReclaimed": n}``."""
        from hako.image.remove import prune

        with self.lock:
            return prune(self, dangling_only, filters or {}, containers_using)

    # -- registries --------------------------------------------------------------------------
    def pull_resolve(self, ref_text: str, credentials=None, platform: str = ""):
        """First half of a pull: find the image on its registry (errors raise here).

        Raises:
            InvalidArgument (bad reference), NotFound, Unauthorized, Unavailable, Unsupported.
        """
        from hako.image import pull

        return pull.resolve(self, reference.parse(ref_text), credentials, platform)

    def pull_tags(self, ref_text: str, credentials=None) -> list[str]:
        """Tags of a repository on its registry (``pull --all-tags``)."""
        from hako.image import pull

        return pull.list_tags(self, reference.parse(ref_text), credentials)

    def pull_fetch(self, resolved, emit) -> str:
        """Second half of a pull: download, verify, unpack, record; returns the image id."""
        from hako.image import pull

        return pull.fetch(self, resolved, emit)

    def push_plan(self, name: str, tag: str = ""):
        """What ``push`` would send. Raises NotFound when no local image has the tag."""
        from hako.image import push

        return push.plan(self, name, tag)

    def push(self, target, emit, credentials=None) -> None:
        from hako.image import push

        push.push(self, target, emit, credentials)

    def registry_client(self, server: str, credentials=None):
        """A client for ``server`` (a host[:port] or URL; docker.io's index names included)."""
        from urllib.parse import urlsplit

        from hako.registry.client import RegistryClient

        text = server.strip() or "docker.io"
        host = urlsplit(text).netloc if "://" in text else text.split("/")[0]
        if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
            ep = self.registries.push_endpoint("docker.io")
        else:
            ep = self.registries.push_endpoint(host)
        return RegistryClient(ep.host, insecure=ep.insecure, credentials=credentials,
                              base_url=ep.base_url)

    # -- commit ----------------------------------------------------------------------------
    def commit_snapshot(self, key: str, *, parent: str | None, config: dict, history: dict,
                        container_config: dict | None = None, container_id: str = "",
                        author: str = "", comment: str = "",
                        source_date_epoch: int | None = None, ids=None) -> Image:
        """Turn what changed in the rootfs snapshot of ``key`` into a new layer and image.

        Args:
            key: what ``prepare_rootfs`` was given (a container id); the snapshot stays.
            parent: the parent image (id or reference), None for ``FROM scratch``.
            config: the new image's ``config`` object (Cmd, Env, …), used as given.
            history: the new history entry's ``created_by``/``comment``/``author``.
            container_config: recorded as ``container_config`` (Docker's legacy field).
            container_id: recorded as ``container``.
            source_date_epoch: clamp layer mtimes and set ``created`` (default: the
                SOURCE_DATE_EPOCH environment variable, if set).
            ids: maps file owners on disk to those the layer records (a running
                ``--userns-remap`` container's upper dir holds host ids).

        Returns:
            The new (untagged) Image; ``Image.parent`` is the parent image id. An empty
            diff still makes a (1024-byte, empty) layer, as Docker does for RUN.

        Raises:
            ImageNotFound: unknown parent; NotFound: no snapshot for ``key``.
        """
        from hako.image import commit

        return commit.commit_snapshot(
            self, key, parent=parent, config=config, history=history,
            container_config=container_config, container_id=container_id, author=author,
            comment=comment, source_date_epoch_=source_date_epoch, ids=ids,
        )

    def commit_config(self, *, parent: str | None, config: dict, history: dict,
                      container_config: dict | None = None,
                      source_date_epoch: int | None = None) -> Image:
        """A metadata-only image: the parent's layers, one history entry with empty_layer.

        Raises:
            ImageNotFound: unknown parent.
        """
        from hako.image import commit

        return commit.commit_config(
            self, parent=parent, config=config, history=history,
            container_config=container_config, source_date_epoch_=source_date_epoch,
        )

    def children(self, image_id: str) -> list[Image]:
        """Images whose parent is ``image_id`` (an id or reference)."""
        return [self._image(c) for c in self.meta.children(self.resolve(image_id))]

    # -- archives --------------------------------------------------------------------------
    def save(self, refs: list[str]) -> Iterator[bytes]:
        """``docker save``: a docker-archive tar of the images, as a byte stream."""
        from hako.image.archive import save

        return save(self, refs)

    def load(self, fileobj: BinaryIO, quiet: bool = False) -> list[str]:
        """``docker load`` of a docker-archive or OCI-layout tar. Returns message lines.

        Not under the image lock: extraction and layer unpacks run concurrently with other
        image work; the unpacker takes the lock only to commit each chain snapshot, and pins
        the chains until the images are recorded (``Unpacker.pinned``).
        """
        from hako.image.archive import load

        with self.unpacker.pinned():
            return load(self, fileobj, quiet)

    # -- container root filesystems --------------------------------------------------------
    def prepare_rootfs(self, container_id: str, image_id: str | None) -> list[Mount]:
        """An active snapshot for a container on top of the image's layers.

        ``image_id`` None or "" gives an empty root filesystem (``FROM scratch``).
        """
        from hako.image import rootfs

        return rootfs.prepare(self, container_id, image_id)

    def rootfs_mounts(self, container_id: str) -> list[Mount]:
        from hako.image import rootfs

        return rootfs.mounts(self, container_id)

    def remove_rootfs(self, container_id: str) -> None:
        from hako.image import rootfs

        rootfs.remove(self, container_id)

    def changes(self, container_id: str) -> list[dict[str, Any]]:
        from hako.image import rootfs

        return [c.to_json() for c in rootfs.changes(self, container_id)]

    def export(self, container_id: str, ids=None) -> Iterator[bytes]:
        """A tar stream of the container's flattened rootfs; ``ids`` as for commit."""
        from hako.image import rootfs

        return rootfs.export(self, container_id, ids)

    def rootfs_size(self, container_id: str) -> tuple[int, int]:
        from hako.image import rootfs

        return rootfs.size(self, container_id)


class _NoLayer:
    size = 0


_NOLAYER = _NoLayer()


def _platform(text: str) -> tuple[str, str, str]:
    host = imageconfig.host_platform()
    if not text:
        return host
    parts = text.strip().lower().split("/")
    if parts[0] != "linux":
        raise InvalidArgument(f'"{text}": unsupported operating system')
    arch = parts[1] if len(parts) > 1 else host[1]
    variant = parts[2] if len(parts) > 2 else ""
    return parts[0], arch, variant


__all__ = ["ImageService", "Image", "NotFound", "make_snapshotter"]


def graph_driver(svc: ImageService, img: Image) -> dict[str, Any]:
    """Docker's ``GraphDriver`` object for an image (overlay2-style directory names)."""
    chains = imageconfig.chain_ids([Digest.parse(d) for d in img.layers])
    data: dict[str, str] = {}
    try:
        dirs = [svc.sn.fs_dir(str(c)) for c in chains]
    except NotFound:
        dirs = []
    if dirs:
        top = os.path.dirname(dirs[-1])
        data = {"MergedDir": os.path.join(top, "merged"), "UpperDir": dirs[-1],
                "WorkDir": os.path.join(top, "work")}
        if len(dirs) > 1:
            data["LowerDir"] = ":".join(reversed(dirs[:-1]))
    return {"Data": data or None, "Name": svc.driver_name}


def _detach_mounts_under(path: str) -> None:
    """Lazily unmount every mount at or below ``path`` (deepest first)."""
    from hako.linux import mountinfo, syscalls

    real = os.path.realpath(path)
    points = sorted({m.mountpoint for m in mountinfo.read()
                     if m.mountpoint == real or m.mountpoint.startswith(real + "/")},
                    key=len, reverse=True)
    for point in points:
        try:
            syscalls.umount2(point, syscalls.MNT_DETACH)
        except OSError:
            pass
