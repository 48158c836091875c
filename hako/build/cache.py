"""Legacy build cache: a step hits when a local image is a child of the current image with
the same container config (Docker's image/cache/compare.go), and digests of what ADD/COPY
bring in, which go into that config's Cmd (``#(nop) COPY file:<hex> in /dest``).

Layer 5 (build). May import: errors, image.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Any, Callable


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


# -- Docker's source hashes (tarsum v1, as in ``#(nop) COPY file:<hex> in /dest``) -------------
_TYPES = {stat.S_IFREG: (0o100000, "0"), stat.S_IFDIR: (0o40000, "5"), stat.S_IFLNK: (0o120000, "2"),
          stat.S_IFCHR: (0o20000, "3"), stat.S_IFBLK: (0o60000, "4"), stat.S_IFIFO: (0o10000, "6")}


def tarsum_header(name: str, mode: int, uid: int, gid: int, size: int, typeflag: str, linkname: str = "",
                  uname: str = "", gname: str = "", devmajor: int = 0, devminor: int = 0,
                  xattrs: dict[str, str] | None = None) -> "hashlib._Hash":
    """A sha256 primed with a tar header in tarsum v1's order (no mtime); the caller adds the
    file's content and takes the hex digest (Docker's pkg/tarsum)."""
    fields = [("name", name), ("mode", str(mode)), ("uid", str(uid)), ("gid", str(gid)),
              ("size", str(size)), ("typeflag", typeflag), ("linkname", linkname), ("uname", uname),
              ("gname", gname), ("devmajor", str(devmajor)), ("devminor", str(devminor))]
    fields += sorted((xattrs or {}).items())
    return hashlib.sha256("".join(k + v for k, v in fields).encode())


def _owner_names(uid: int, gid: int) -> tuple[str, str]:
    """Host user and group names of ids, as Go's tar.FileInfoHeader looks them up."""
    import grp
    import pwd

    try:
        uname = pwd.getpwuid(uid).pw_name
    except KeyError:
        uname = ""
    try:
        gname = grp.getgrgid(gid).gr_name
    except KeyError:
        gname = ""
    return uname, gname


def stat_sum(path: str, rel: str) -> str:
    """Docker's lazy-source hash of one path (stage or image rootfs, git context, download):
    a tar header made from lstat (mode with the file-type bits, host user/group names),
    then the content of a regular file."""
    st = os.lstat(path)
    bits, flag = _TYPES.get(stat.S_IFMT(st.st_mode), (0, "0"))
    name = rel + "/" if flag == "5" and not rel.endswith("/") else rel
    link = os.readlink(path) if flag == "2" else ""
    size = st.st_size if flag == "0" else 0
    dev = (os.major(st.st_rdev), os.minor(st.st_rdev)) if flag in ("3", "4") else (0, 0)
    xattrs = {}
    try:
        xattrs["security.capability"] = os.getxattr(path, "security.capability",
                                                    follow_symlinks=False).decode("latin-1")
    except OSError:
        pass
    h = tarsum_header(name, stat.S_IMODE(st.st_mode) | bits, st.st_uid, st.st_gid, size, flag, link,
                      *_owner_names(st.st_uid, st.st_gid), *dev, xattrs)
    if flag == "0" and size:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def blob_sum(name: str, data: bytes, mode: int) -> str:
    """The lazy-source hash of a file that is not on disk yet (a download, a heredoc), owned
    by root as Docker's daemon writes it."""
    h = tarsum_header(name, mode | 0o100000, 0, 0, len(data), "0", "", *_owner_names(0, 0))
    h.update(data)
    return h.hexdigest()


class SourceHasher:
    """Docker's copyInfo hashes of sources under one root (builder/dockerfile/copy.go).

    Args:
        root: the context or the rootfs the sources come from.
        resolve: root-relative path → absolute path with symlinks followed inside root.
        sums: tarsum of each entry of an uploaded context, by clean name (None: stat_sum).
    """

    def __init__(self, root: str, resolve: Callable[[str], str], sums: dict[str, str] | None) -> None:
        self.root, self.resolve, self.sums = root, resolve, sums

    def _entry(self, rel: str) -> str:
        try:
            full = self.resolve(rel)
        except Exception:  # noqa: BLE001 - Docker skips what it cannot hash
            return rel
        real_rel = os.path.relpath(full, self.root)
        if self.sums is not None:
            return self.sums.get(real_rel, rel)
        return stat_sum(full, real_rel)

    def source(self, path: str) -> str:
        """``file:<sum>`` of a file, ``dir:<sha256 of the entries' sums, sorted, comma-joined>``
        (the directory's own entry included unless it is the root)."""
        rel = os.path.relpath(path, self.root)
        if not os.path.isdir(path):
            return "file:" + self._entry(rel)
        sums: list[str] = [] if rel == "." else [self._entry(rel)]  # Walk visits the dir itself
        self._walk(path, sums)
        return "dir:" + hashlib.sha256(",".join(sorted(sums)).encode()).hexdigest()

    def _walk(self, path: str, out: list[str]) -> None:
        for name in sorted(os.listdir(path)):
            child = os.path.join(path, name)
            out.append(self._entry(os.path.relpath(child, self.root)))
            if os.path.isdir(child) and not os.path.islink(child):
                self._walk(child, out)


def combine(hashes: list[str]) -> str:
    """One hash for an ADD/COPY: the source's own, or ``multi:`` over all of them."""
    if len(hashes) == 1:
        return hashes[0]
    return "multi:" + hashlib.sha256(",".join(hashes).encode()).hexdigest()


def data_digest(data: bytes, kind: str = "file") -> str:
    return f"{kind}:{hashlib.sha256(data).hexdigest()}"
