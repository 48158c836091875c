"""Legacy build cache: a step hits when a local image is a child of the current image with
the same container config (Docker's image/cache/compare.go), and digests of what ADD/COPY
bring in, which go into that config's Cmd (``#(nop) COPY file:<hex> in /dest``).

Layer 5 (build). May import: errors, image.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Any


def _same_list(a: Any, b: Any) -> bool:
    return list(a or []) == list(b or [])


def _same_keys(a: Any, b: Any) -> bool:
    return sorted((a or {}).keys()) == sorted((b or {}).keys())


def compare(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Docker's cache comparison of two container configs."""
    if not a or not b or a.get("OpenStdin") or b.get("OpenStdin"):
        return False
    for key in ("AttachStdout", "AttachStderr", "Tty"):
        if bool(a.get(key)) != bool(b.get(key)):
            return False
    if (a.get("User") or "") != (b.get("User") or ""):
        return False
    for key in ("Cmd", "Env", "Entrypoint"):
        if not _same_list(a.get(key), b.get(key)):
            return False
    if dict(a.get("Labels") or {}) != dict(b.get("Labels") or {}):
        return False
    return _same_keys(a.get("ExposedPorts"), b.get("ExposedPorts")) and _same_keys(
        a.get("Volumes"), b.get("Volumes"))


def sources(images: Any, cache_from: list[str]) -> set[str]:
    """Ids of the ``cachefrom`` images and their ancestors ({""} when none of them exists,
    which allows nothing; an empty set when no cachefrom was given: every image)."""
    if not cache_from:
        return set()
    out = {""}
    for ref in cache_from:
        try:
            image_id = images.get(ref).id
        except Exception:  # noqa: BLE001 - Docker ignores cache sources it cannot find
            continue
        while image_id and image_id not in out:
            out.add(image_id)
            try:
                image_id = images.get(image_id).parent
            except Exception:  # noqa: BLE001
                break
    return out


def lookup(images: Any, parent: str, container_config: dict[str, Any],
           allowed: set[str] | None = None) -> str | None:
    """The newest local child of ``parent`` built with the same container config, or None.

    Args:
        allowed: when given, only these image ids may be used (``cachefrom``).
    """
    try:
        if parent:
            children = images.children(parent)
        else:  # FROM scratch: the images without a parent
            children = [i for i in images.list(all=True) if not i.parent]
    except Exception:  # noqa: BLE001 - no cache is never an error
        return None
    best = None
    for img in children:
        if allowed is not None and img.id not in allowed:
            continue
        if compare(getattr(img, "container_config", None), container_config):
            if best is None or img.created > best.created:
                best = img
    return best.id if best is not None else None


def _hash_tree(h: "hashlib._Hash", path: str, name: str) -> None:
    st = os.lstat(path)
    mode = stat.S_IMODE(st.st_mode) | stat.S_IFMT(st.st_mode)
    h.update(f"{name}\0{mode:o}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(path).encode() + b"\0")
    elif stat.S_ISREG(st.st_mode):
        h.update(f"{st.st_size}\0".encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    elif stat.S_ISDIR(st.st_mode):
        for child in sorted(os.listdir(path)):
            _hash_tree(h, os.path.join(path, child), f"{name}/{child}")


def source_digest(paths: list[str], extra: str = "") -> str:
    """``file:<hex>``, ``dir:<hex>`` or ``multi:<hex>`` of the sources' contents + metadata.

    Args:
        paths: absolute source paths (resolved, inside the context or a stage's rootfs).
        extra: options that change the result (``--chown``, ``--chmod``), hashed in too.
    """
    h = hashlib.sha256(extra.encode())
    for path in paths:
        _hash_tree(h, path, os.path.basename(path))
    if len(paths) == 1:
        kind = "dir" if os.path.isdir(paths[0]) else "file"
    else:
        kind = "multi"
    return f"{kind}:{h.hexdigest()}"


def data_digest(data: bytes, kind: str = "file") -> str:
    return f"{kind}:{hashlib.sha256(data).hexdigest()}"
