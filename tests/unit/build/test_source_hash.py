"""Docker's ADD/COPY source hashes (tarsum v1), checked against values Debian's docker.io
20.10 printed in ``history`` for the golden Dockerfiles."""

from __future__ import annotations

import io
import os
import tarfile

from hako.build import cache, context


def test_context_file_hash_matches_docker():
    h = cache.tarsum_header("plain.txt", 0o644, 0, 0, 11, "0")
    h.update(b"plain file\n")
    assert h.hexdigest().startswith("4e3a487899411104")


def test_downloaded_file_hash_matches_docker():
    assert cache.blob_sum("remote.txt", b"served over http\n", 0o600).startswith("dcfce44e09290c83")


def test_dir_hash_sorts_entries_and_keeps_missing_dirs_as_names(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in ((".dockerignore", None), ("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n"),
                           ("docs/keep.md", b"keep\n"), ("kept.txt", b"k\n"), ("logs/", None),
                           ("logs/important.log", b"imp\n")):
            info = tarfile.TarInfo(name)
            if name == ".dockerignore":
                data = b"# ignore docs but keep one\ndocs\n!docs/keep.md\n**/*.log\n!logs/important.log\n/secret.txt\n"
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
                continue
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    buf.seek(0)
    ctx = context.from_tar(buf, tmp_root=str(tmp_path))
    try:
        assert os.path.isdir(os.path.join(ctx.root, "docs"))  # made implicitly: hashed as "docs"
        digest = ctx.hasher().source(ctx.root)
    finally:
        ctx.close()
    assert digest == "dir:98a84f03b2d972d6a365aa444fb9f321c2e3de2d149e6bc050e74a3ec74fb70f"


def test_combine_single_and_multi():
    assert cache.combine(["file:a"]) == "file:a"
    assert cache.combine(["file:a", "dir:b"]).startswith("multi:")
