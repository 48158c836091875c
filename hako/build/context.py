"""Build contexts: tar intake (plain, gzip, bzip2, xz), remote URLs and git, .dockerignore.

A context is extracted into a private temporary directory by the one extractor
(``hako.support.untar``: names and links confined to it, nothing written through a
symlink); device nodes and FIFOs are skipped and every entry is owned by root (COPY sets
its own ownership). Then ``.dockerignore`` is applied
(the Dockerfile and .dockerignore themselves are always kept, as the docker CLI does).
Paths that ADD/COPY name are resolved inside the context, symlinks included, with
Docker's ``Forbidden path outside the build context`` error.

Layer 5 (build). May import: errors, opts, support, build.cache.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import tempfile
from typing import BinaryIO

from hako.build import cache
from hako.opts.dockerignore import Matcher, read_patterns
from hako.errors import InvalidArgument, NotFound
from hako.support import fsroot, tarsafe, untar

DEFAULT_DOCKERFILE = "Dockerfile"


class ForbiddenPath(InvalidArgument):
    """A source path that leaves the build context."""


class BuildContext:
    """An extracted build context rooted at ``root`` (removed by :meth:`close`)."""

    def __init__(self, root: str, owned: bool = True, sums: dict[str, str] | None = None) -> None:
        self.root = os.path.realpath(root)
        self._owned = owned
        self.sums = sums  # tarsum of each uploaded entry (None: hash from lstat, as Docker)

    def hasher(self) -> cache.SourceHasher:
        """Docker's source hashes for ADD/COPY from this context."""
        return cache.SourceHasher(self.root, lambda rel: self.resolve(rel), self.sums)

    def drop_ignored_build_files(self, dockerfile: str = "") -> None:
        """Remove the Dockerfile and .dockerignore from the context when .dockerignore names
        them (they were kept so the Dockerfile could be read), as Docker's daemon does."""
        path = os.path.join(self.root, ".dockerignore")
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8", errors="replace") as f:
            matcher = Matcher(read_patterns(f.read()))
        for name in (dockerfile or DEFAULT_DOCKERFILE, ".dockerignore"):
            rel = posixpath.normpath(name).lstrip("/")
            full = os.path.join(self.root, rel)
            if not rel.startswith("..") and matcher.excluded(rel) and os.path.isfile(full):
                os.unlink(full)

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "BuildContext":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_dockerfile(self, name: str = "") -> str:
        """The Dockerfile's text (``name`` relative to the context, default Dockerfile).

        Raises:
            NotFound: Docker's ``Cannot locate specified Dockerfile: <name>``.
        """
        name = name or DEFAULT_DOCKERFILE
        try:
            path = self.resolve(name)
        except ForbiddenPath:
            raise
        if not os.path.isfile(path) and name == DEFAULT_DOCKERFILE:
            alt = os.path.join(self.root, "dockerfile")
            path = alt if os.path.isfile(alt) else path
        if not os.path.isfile(path):
            raise NotFound(f"Cannot locate specified Dockerfile: {name}")
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def resolve(self, rel: str, follow_final: bool = True) -> str:
        """Absolute path of a context path; symlinks resolved inside the context.

        Raises:
            ForbiddenPath: the path leaves the context.
        """
        clean = posixpath.normpath("/" + rel.replace("\\", "/")) if rel else "/"
        if posixpath.normpath(rel).startswith(".."):
            raise ForbiddenPath(f"forbidden path outside the build context: {rel} ()")
        try:
            return tarsafe.resolve(self.root, clean.lstrip("/"), rel, follow_final=follow_final)
        except InvalidArgument as exc:
            raise ForbiddenPath(f"forbidden path outside the build context: {rel} ()") from exc

    def match(self, pattern: str) -> list[tuple[str, str]]:
        """(name, resolved absolute path) of the context paths a COPY source names.

        Wildcards are allowed; every result is resolved inside the context (a symlink that
        points out of it is refused, like Docker).

        Raises:
            ForbiddenPath; NotFound when nothing matches.
        """
        if not glob.has_magic(pattern):
            path = self.resolve(pattern)
            if not os.path.lexists(path):
                raise NotFound(f"file not found in build context or excluded by .dockerignore: "
                               f"stat {pattern}: file does not exist")
            return [(posixpath.basename(posixpath.normpath("/" + pattern)) or "/", path)]
        rel = posixpath.normpath(pattern).lstrip("/")
        if rel.startswith(".."):
            raise ForbiddenPath(f"forbidden path outside the build context: {pattern} ()")
        base = self.resolve(posixpath.dirname(rel)) if posixpath.dirname(rel) else self.root
        found = sorted(glob.glob(os.path.join(glob.escape(base), posixpath.basename(rel))))
        if not found:
            raise NotFound(f"lstat {pattern}: file does not exist")
        out = []
        for p in found:
            out.append((os.path.basename(p), self.resolve(os.path.relpath(p, self.root))))
        return out


# -- intake --------------------------------------------------------------------------------
CONTEXT_LIMITS = untar.Limits(max_entries=1_000_000)


def extract_tar(fileobj: BinaryIO, dest: str, limits: untar.Limits | None = None) -> dict[str, str]:
    """Extract a (possibly gzip/bzip2/xz compressed) context tar into ``dest`` with the one
    extractor: entries owned by root, device nodes and FIFOs skipped.

    Returns:
        The tarsum v1 of each extracted entry by clean name (the first of duplicates), as
        Docker's daemon computes them while it untars a context.

    Raises:
        InvalidArgument: not a tar, or an entry escaping ``dest``.
    """
    hashers: dict[str, object] = {}

    def on_entry(member: tarfile.TarInfo):
        h = _entry_hasher(member)
        hashers.setdefault(tarsafe.clean_name(member.name), h)
        return h.update

    opts = untar.Options(owner=(0, 0), specials=untar.SKIP, on_entry=on_entry,
                         limits=limits or CONTEXT_LIMITS)
    untar.extract(fileobj, dest, opts)
    return {name: h.hexdigest() for name, h in hashers.items()}  # type: ignore[attr-defined]


def _entry_hasher(member: tarfile.TarInfo):
    """tarsum v1 of one entry: its header as sent (user and group names left out); the
    extractor feeds it the content as it writes it."""
    flag = "0" if member.type == tarfile.AREGTYPE else member.type.decode()
    xattrs = {k[len("SCHILY.xattr."):]: v for k, v in member.pax_headers.items()
              if k.startswith("SCHILY.xattr.")}
    name = member.name + "/" if member.isdir() else member.name  # Python's tarfile strips it
    return cache.tarsum_header(name, member.mode, member.uid, member.gid, member.size, flag,
                               member.linkname, "", "", member.devmajor, member.devminor, xattrs)


def apply_dockerignore(root: str, keep: tuple[str, ...] = ()) -> None:
    """Remove what ``root/.dockerignore`` excludes (``keep`` paths always stay)."""
    path = os.path.join(root, ".dockerignore")
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        patterns = read_patterns(f.read())
    patterns += ["!" + k for k in (".dockerignore", *keep) if k]
    matcher = Matcher(patterns)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if matcher.excluded(rel):
                os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not os.path.islink(full) and matcher.excluded(rel) and not os.listdir(full):
                os.rmdir(full)


def from_tar(fileobj: BinaryIO, dockerfile: str = "", tmp_root: str | None = None) -> BuildContext:
    """A context from an uploaded tar stream.

    Raises:
        InvalidArgument: unreadable or unsafe tar.
    """
    root = tempfile.mkdtemp(prefix="build-ctx-", dir=tmp_root)
    try:
        sums = extract_tar(fileobj, root)
        apply_dockerignore(root, (dockerfile or DEFAULT_DOCKERFILE,))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return BuildContext(root, sums=sums)


def is_git_url(url: str) -> bool:
    """Docker's urlutil.IsGitURL."""
    if url.startswith(("git://", "git@", "github.com/")):
        return True
    base = url.split("#", 1)[0]
    return url.startswith(("http://", "https://")) and base.endswith(".git")


def check_remote_url(url: str) -> None:
    """Refuse a ``remote`` that is neither http(s) nor a git URL, before anything is fetched.

    Docker's remotecontext.Detect accepts exactly urlutil.IsGitURL (``git://``, ``git@``,
    ``github.com/``, http(s) ending in ``.git``) and urlutil.IsURL (``http://``, ``https://``).

    Raises:
        InvalidArgument: naming the scheme (``file``, ``ftp``, ...) or the bare path.
    """
    if is_git_url(url):
        parse_git_url(url)  # a ref git would read as an option is refused before any fetch
        return
    if url.startswith(("http://", "https://")):
        return
    scheme, sep, _ = url.partition("://")
    what = f"scheme {scheme!r}" if sep and scheme else "a bare path or unknown form"
    raise InvalidArgument(f"remote context {what} is not supported (only http://, https:// and git "
                          f"URLs are): remoteURL ({url}) could not be recognized as URL")


def from_remote(url: str, dockerfile: str = "", tmp_root: str | None = None) -> BuildContext:
    """A context from ``remote``: a git repository, a tarball URL, or a Dockerfile URL.

    Raises:
        InvalidArgument: not an http(s)/git URL; download or clone failure.
    """
    check_remote_url(url)
    root = tempfile.mkdtemp(prefix="build-ctx-", dir=tmp_root)
    try:
        if is_git_url(url):
            _git_clone(url, root)
        else:
            _download_context(url, root, dockerfile or DEFAULT_DOCKERFILE)
        apply_dockerignore(root, (dockerfile or DEFAULT_DOCKERFILE,))
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return BuildContext(root)


_GIT_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@+-]*$")


def parse_git_url(url: str) -> tuple[str, str, str]:
    """``repo#ref:subdir`` → (repo, ref, subdir), as Docker's gitutils splits it.

    Raises:
        InvalidArgument: a ref git could read as an option or a revision expression.
    """
    repo, _, fragment = url.partition("#")
    ref, _, subdir = fragment.partition(":")
    if repo.startswith("github.com/"):
        repo = "https://" + repo
    if ref and (not _GIT_REF_RE.match(ref) or ".." in ref or ref.endswith((".lock", "/"))):
        raise InvalidArgument(f"invalid git reference {ref!r} in remote context {url}")
    return repo, ref, subdir


def _git(cwd: str, *args: str) -> None:
    # submodules and redirects may only use the schemes a remote may name; never a prompt
    env = dict(os.environ, GIT_ALLOW_PROTOCOL="http:https:git:ssh", GIT_TERMINAL_PROMPT="0",
               GIT_CONFIG_NOSYSTEM="1", HOME=cwd)
    try:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=300, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        raise InvalidArgument(f"error fetching: {err.decode(errors='replace').strip() or exc}") from exc


def _git_clone(url: str, root: str) -> None:
    """Fetch ``ref`` (a branch, tag or commit; the remote's HEAD when empty) of the repository
    into ``root``, then keep only ``subdir`` (resolved inside the checkout, through
    descriptors), as Docker's remote git contexts do: init, fetch, checkout FETCH_HEAD,
    submodules."""
    repo, ref, subdir = parse_git_url(url)
    checkout = os.path.join(root, ".clone")
    os.mkdir(checkout, 0o700)
    _git(checkout, "init", "-q")
    _git(checkout, "remote", "add", "origin", repo)
    # dumb http cannot do shallow fetches; smart http, git:// and ssh can (Docker probes the
    # same way: supportsShallowClone)
    depth = [] if repo.startswith(("http://", "https://")) and not _smart_http(repo) else ["--depth", "1"]
    _git(checkout, "fetch", "-q", *depth, "origin", ref or "HEAD")
    _git(checkout, "checkout", "-q", "FETCH_HEAD")
    _git(checkout, "submodule", "update", "-q", "--init", "--recursive", *depth)
    shutil.rmtree(os.path.join(checkout, ".git"), ignore_errors=True)
    with fsroot.Root(checkout) as tree:
        try:
            src = tree.open_dir(subdir) if subdir else os.open(checkout, os.O_PATH | os.O_DIRECTORY)
        except (FileNotFoundError, InvalidArgument):
            raise InvalidArgument(f"error setting git context, not a directory: {subdir}") from None
        try:
            listing = os.open(fsroot.proc_path(src), os.O_RDONLY | os.O_DIRECTORY)
            dst = os.open(root, os.O_PATH | os.O_DIRECTORY)
            try:
                for name in os.listdir(listing):
                    os.rename(name, name, src_dir_fd=src, dst_dir_fd=dst)
            finally:
                os.close(listing)
                os.close(dst)
        finally:
            os.close(src)
    shutil.rmtree(checkout, ignore_errors=True)


def _smart_http(repo: str) -> bool:
    """Whether an http(s) git remote speaks the smart protocol (can fetch shallow)."""
    from hako.support import fetch

    try:
        return fetch.content_type(repo.rstrip("/") + "/info/refs?service=git-upload-pack") == \
            "application/x-git-upload-pack-advertisement"
    except OSError:
        return False


def _download_context(url: str, root: str, dockerfile: str) -> None:
    from hako.support import fetch

    with tempfile.TemporaryFile() as tmp:
        try:
            fetch.download(url, tmp, what="remote context")
        except OSError as exc:
            raise InvalidArgument(f"unable to prepare context: unable to download remote context {url}: {exc}") from exc
        tmp.seek(0)
        head = tmp.read(512)
        tmp.seek(0)
        if untar.looks_like_tar(head):
            extract_tar(tmp, root)
            return
        with open(os.path.join(root, dockerfile), "wb") as f:
            shutil.copyfileobj(tmp, f)


def is_archive(path: str) -> bool:
    """Whether a local file is a tar archive ADD would extract (plain/gzip/bzip2/xz)."""
    return untar.is_archive(path)