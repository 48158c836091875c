"""Filesystem steps: RUN (a container through the Runner, started), WORKDIR (a container
created, never started, whose snapshot the builder writes) and ADD/COPY (a bare snapshot,
no container, as Docker's ``performCopy``), each committed as a new layer unless the cache
hits. The step's containers are removed by ``dispatch`` after the step.

Layer 5 (build). May import: errors, support, store, image.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from typing import Any

from hako.build import cache, context as ctxmod, fsops
from hako.build.builder import Builder, BuildStepError, StageState
from hako.build.dockerfile import instructions as ins
from hako.build.dockerfile.expand import env_map, expand_word
from hako.build.dockerfile.lexer import heredoc_body, heredoc_marker
from hako.errors import InvalidArgument, NotFound
from hako.support import ids


# -- RUN -----------------------------------------------------------------------------------
def _run_argv(b: Builder, st: StageState, node: ins.Run) -> list[str]:
    if node.json:
        return list(node.command)
    text = " ".join(node.command)
    if node.heredocs:
        first = heredoc_marker(text.split()[0]) if text.split() else None
        if first is not None and len(text.split()) == 1 and len(node.heredocs) == 1:
            doc = node.heredocs[0]
            return st.shell + [heredoc_body(doc.content, doc.chomp)]
        body = "".join(f"{heredoc_body(d.content, d.chomp)}{d.name}\n" for d in node.heredocs)
        return st.shell + [text.replace("<<-", "<<") + "\n" + body]
    return st.shell + [text]


def run(b: Builder, st: StageState, node: ins.Run) -> None:
    """RUN: a container on the current image; its changes become the next layer."""
    argv = _run_argv(b, st, node)
    env_keys = set(env_map(st.config.get("Env")))
    build_env = st.args.values(env_keys)
    save_cmd = argv
    if build_env:
        visible = sorted(f"{k}={v}" for k, v in build_env.items() if st.args.cache_visible(k))
        save_cmd = [f"|{len(visible)}", *visible, *argv]
    cc = b.run_config(st)
    cc["Cmd"] = save_cmd
    cc["Entrypoint"] = None
    if b.probe(st, cc):
        return
    config = b.run_config(st)
    config.update(Cmd=argv, Entrypoint=[""], Env=list(st.config.get("Env") or [])
                  + [f"{k}={v}" for k, v in sorted(build_env.items())], AttachStdout=True,
                  AttachStderr=True, Tty=False, OpenStdin=False)
    host_config = b.host_config(node.network)
    host_config["Tmpfs"] = {v: "" for v in (st.config.get("Volumes") or {})} or None
    cid = b.create_container(config, host_config)  # removed after the step by dispatch
    code = b.runner.start_and_wait(cid, lambda data, err: b.out(_output_text(data, err)))
    if code != 0:
        raise BuildStepError(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
    b.commit_snapshot(st, cid, cc, " ".join(save_cmd), container_id=cid)


def _output_text(data: bytes, stderr: bool) -> str:
    """Step output as Docker's legacy builder streams it (stderr in red)."""
    text = data.decode("utf-8", "replace")
    return f"\x1b[91m{text}\x1b[0m" if stderr else text


# -- snapshot helper -----------------------------------------------------------------------
@contextlib.contextmanager
def _scratch_snapshot(b: Builder, image_id: str):
    """A fresh active snapshot on ``image_id``, mounted; removed afterwards."""
    key = ids.new_id()
    b.images.prepare_rootfs(key, image_id or None)
    try:
        with fsops.mounted(b.images, key) as root:
            yield key, root
    finally:
        b.images.remove_rootfs(key)


def workdir(b: Builder, st: StageState, node: ins.Workdir) -> None:
    """WORKDIR: relative to the previous one; the directory is created (a layer)."""
    path = expand_word(node.path, st.env(), b.escape)
    if not path.startswith("/"):
        path = posixpath.join(st.config.get("WorkingDir") or "/", path)
    path = posixpath.normpath(path)
    st.config["WorkingDir"] = path
    cc = b.run_config(st)
    cc["Cmd"] = st.shell + ["#(nop) WORKDIR " + path]  # one word, unlike the metadata steps
    if b.probe(st, cc):
        return
    if not st.image_id:  # a hako container needs an image: a bare snapshot on scratch
        key = ids.new_id()
        b.images.prepare_rootfs(key, None)
        try:
            _make_workdir(b, st, key, path, cc)
        finally:
            b.images.remove_rootfs(key)
        return
    # Docker's probeAndCreate + ContainerCreateWorkdir: a created (never started) container
    cid = b.create_container(cc, b.host_config())
    _make_workdir(b, st, cid, path, cc, container_id=cid)


def _make_workdir(b: Builder, st: StageState, key: str, path: str, cc: dict[str, Any],
                  container_id: str = "") -> None:
    with fsops.mounted(b.images, key) as root:
        fsops.make_dirs(root, path, None)
    b.commit_snapshot(st, key, cc, " ".join(cc["Cmd"]), container_id=container_id)


# -- ADD / COPY ----------------------------------------------------------------------------
class _Sources:
    """What one ADD/COPY brings in: local paths, heredoc files, downloaded URLs."""

    def __init__(self) -> None:
        self.paths: list[str] = []  # resolved source paths
        self.names: list[str] = []  # the names they get at the destination
        self.blobs: list[tuple[str, bytes, int, float | None]] = []  # (name, data, mode, mtime)
        self.archives: set[str] = set()
        self.hashes: list[str] = []  # Docker's hash of each source, in order

    @property
    def count(self) -> int:
        return len(self.paths) + len(self.blobs)


def _download(url: str) -> tuple[str, bytes, float | None]:
    import email.utils
    import urllib.parse

    import io

    from hako.support import fetch

    buf = io.BytesIO()
    try:
        modified = fetch.download(url, buf, what="ADD").get("Last-Modified")
    except OSError as exc:
        raise InvalidArgument(f"failed to download {url}: {exc}") from exc
    data = buf.getvalue()
    name = posixpath.basename(urllib.parse.urlparse(url).path) or "__unnamed__"
    mtime = None
    if modified:
        try:
            mtime = email.utils.parsedate_to_datetime(modified).timestamp()
        except (TypeError, ValueError):
            mtime = None
    return name, data, mtime


def _collect(b: Builder, st: StageState, node: ins.Copy, src_root: Any) -> _Sources:
    env = st.env()
    docs = {d.name: d for d in node.heredocs}
    out = _Sources()
    for raw in node.sources:
        marker = heredoc_marker(raw)
        if marker is not None and marker[0] in docs:
            doc = docs[marker[0]]
            text = heredoc_body(doc.content, doc.chomp)
            if doc.expand:
                text = expand_word(text.replace('"', '\\"'), env, b.escape) if "$" in text else text
            out.blobs.append((marker[0], text.encode(), 0o644, None))
            out.hashes.append("file:" + cache.blob_sum(marker[0], text.encode(), 0o644))
            continue
        src = expand_word(raw, env, b.escape)
        if isinstance(node, ins.Add) and src.startswith(("http://", "https://")):
            name, data, mtime = _download(src)
            out.blobs.append((name, data, 0o600, mtime))
            out.hashes.append(cache.blob_sum(name, data, 0o600))  # Docker: no "file:" for a URL
            continue
        hasher = src_root.hasher()
        for name, path in src_root.match(src):
            out.names.append(name)
            out.paths.append(path)
            out.hashes.append(hasher.source(path))
            if isinstance(node, ins.Add) and ctxmod.is_archive(path):
                out.archives.add(path)
    if not out.count:
        raise NotFound("no source files were specified")
    return out


@contextlib.contextmanager
def _source_root(b: Builder, st: StageState, node: ins.Copy):
    """The context, or the rootfs of a stage/image named by ``--from`` (mounted)."""
    if not node.from_:
        yield b.context
        return
    ref = expand_word(node.from_, b.args.meta_env() | st.env(), b.escape)
    image_id = b.stage_image(ref, st.index)
    if image_id is None:
        image_id = b.images.get(ref).id
    key = ids.new_id()
    b.images.prepare_rootfs(key, image_id)
    try:
        with fsops.mounted(b.images, key) as root:
            yield ctxmod.BuildContext(root, owned=False)
    finally:
        b.images.remove_rootfs(key)


def copy(b: Builder, st: StageState, node: ins.Copy) -> None:
    """ADD/COPY: sources from the context (or --from) into the image."""
    kw = node.keyword
    dest = expand_word(node.dest, st.env(), b.escape)
    chown = expand_word(node.chown, st.env(), b.escape) if node.chown else ""
    chmod = fsops.parse_chmod(node.chmod)
    raw_dest = dest
    if not dest.startswith("/"):
        wd = st.config.get("WorkingDir") or "/"
        dest = posixpath.join(wd, dest) + ("/" if dest.endswith("/") or dest in (".", "") else "")
    with _source_root(b, st, node) as src_root:
        sources = _collect(b, st, node, src_root)
        if sources.count > 1 and not dest.endswith("/"):
            raise InvalidArgument(f"When using {kw} with more than one source file, the "
                                  "destination must be a directory and end with a /")
        # Docker 20.10's text, "--chown=" glued to the hash and the destination as written;
        # --chmod (BuildKit-only in Docker) is hako's addition, kept in the cache key
        flags = (f"--chmod={node.chmod} " if node.chmod else "") + (f"--chown={chown}" if chown else "")
        comment = f"{kw} {flags}{cache.combine(sources.hashes)} in {raw_dest} "
        cc = b.run_config(st)
        cc["Cmd"] = st.shell + ["#(nop) " + comment]
        if b.probe(st, cc):
            return
        key = ids.new_id()
        b.images.prepare_rootfs(key, st.image_id or None)
        try:
            with fsops.mounted(b.images, key) as root:
                _write(root, sources, dest, chown, chmod)
            b.commit_snapshot(st, key, cc, " ".join(cc["Cmd"]))
        finally:
            b.images.remove_rootfs(key)


def _write(root: str, sources: _Sources, dest: str, chown: str, chmod: int | None) -> None:
    owner = fsops.resolve_owner(root, chown)
    dest_clean = posixpath.normpath(dest)
    host = fsops.inside(root, dest_clean)
    as_dir = dest.endswith("/") or sources.count > 1 or os.path.isdir(host)
    if as_dir:
        host = fsops.make_dirs(root, dest_clean, owner)
    else:
        fsops.make_dirs(root, posixpath.dirname(dest_clean), owner)
    for name, real in zip(sources.names, sources.paths):
        if real in sources.archives:
            target = host if as_dir else fsops.make_dirs(root, dest_clean, owner)
            fsops.extract_archive(real, root, target, owner)
            continue
        if os.path.isdir(real):
            target = host if as_dir else fsops.make_dirs(root, dest_clean, owner)
            for name in sorted(os.listdir(real)):
                fsops.copy_entry(os.path.join(real, name), root, os.path.join(target, name), owner, chmod)
            continue
        target = os.path.join(host, name) if as_dir else host
        fsops.copy_entry(real, root, target, owner, chmod)
    for name, data, mode, mtime in sources.blobs:
        target = os.path.join(host, name) if as_dir else host
        fsops.write_file(root, target, data, chmod if chmod is not None else mode, owner, mtime)
