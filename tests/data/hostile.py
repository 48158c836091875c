"""The hostile-archive corpus: tars that try to reach a victim file and directory outside
the destination they are extracted into. Every extractor of the engine is run against each
case (tests/integration/store/test_untar_corpus.py directly, tests/cli/test_hostile_archives.py
through the docker CLI and the API), and each case asserts that the victims keep their
content, mode, owner and entries."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass

REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
CHR, BLK, FIFO = tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE
HUGE = 1 << 40  # a 1 TiB "sparse" file: declared, never sent


def entry(name: str, kind: bytes = REG, data: bytes = b"", linkname: str = "",
          mode: int = 0o644, dev: tuple[int, int] = (0, 0), size: int | None = None):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    info.size = len(data) if size is None else size
    info.devmajor, info.devminor = dev
    info.mtime = 1_600_000_000
    return info, data


def tar_bytes(entries) -> bytes:
    """A PAX tar of ``entries``; an entry whose size exceeds its data gets a header only
    (the stream ends right after it, as a bomb's would be cut)."""
    buf = io.BytesIO()
    for info, data in entries:
        buf.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if info.size != len(data):
            return buf.getvalue() + data
        if data:
            buf.write(data)
            buf.write(b"\0" * (-len(data) % 512))
    buf.write(b"\0" * 1024)
    return buf.getvalue()


def corpus(victim: str, victimdir: str) -> dict[str, list]:
    """Case name → entries, aimed at the absolute host paths ``victim`` (a file) and
    ``victimdir`` (a directory holding ``keep``)."""
    up = "../" * 24
    return {
        "absolute symlink parent": [
            entry("d", SYM, linkname=victimdir), entry("d/pwned", data=b"pwned")],
        "relative symlink parent": [
            entry("d", SYM, linkname=up + victimdir.lstrip("/")), entry("d/pwned", data=b"pwned")],
        "symlink then file of the same name": [
            entry("x", SYM, linkname=victim), entry("x", data=b"pwned", mode=0o4777)],
        "symlink then dir then file": [
            entry("x", SYM, linkname=victimdir), entry("x", DIR, mode=0o777),
            entry("x/pwned", data=b"pwned")],
        "hardlink to a symlink, setuid": [
            entry("s", SYM, linkname=victim), entry("h", LNK, linkname="s", mode=0o4777)],
        "hardlink to an absolute host path": [
            entry("f", data=b"ok"), entry("h", LNK, linkname=victim, mode=0o4777)],
        "hardlink leaving the destination": [
            entry("h", LNK, linkname=up + victim.lstrip("/"), mode=0o4777)],
        "hardlink through a symlink parent": [
            entry("d", SYM, linkname=os.path.dirname(victim)),
            entry("h", LNK, linkname="d/" + os.path.basename(victim), mode=0o4777),
            entry("h", data=b"pwned")],
        "dotdot in names": [
            entry(up + victim.lstrip("/"), data=b"pwned"),
            entry("a/" + up + victimdir.lstrip("/") + "/pwned", data=b"pwned")],
        "dotdot in link names": [
            entry("l", SYM, linkname="../" + up + victimdir.lstrip("/")),
            entry("l/pwned", data=b"pwned")],
        "whiteout of dot and dotdot": [
            entry("a", DIR), entry("a/.wh..", data=b""), entry(".wh...", data=b"")],
        "whiteout through a symlink": [
            entry("d", SYM, linkname=victimdir), entry("d/.wh.keep", data=b"")],
        "opaque through a symlink": [
            entry("d", SYM, linkname=victimdir), entry("d/.wh..wh..opq", data=b"")],
        "setuid hardlink": [
            entry("f", data=b"#!/bin/sh\n", mode=0o755), entry("h", LNK, linkname="f", mode=0o4755)],
        "fifo and device nodes": [
            entry("p", FIFO, mode=0o666), entry("null", CHR, mode=0o666, dev=(1, 3)),
            entry("sda", BLK, mode=0o666, dev=(8, 0)),
            entry("d", SYM, linkname=victimdir), entry("d/node", CHR, mode=0o666, dev=(1, 3))],
        "huge sparse file": [entry("big", size=HUGE)],
    }


@dataclass(frozen=True)
class Victims:
    file: str
    dir: str

    @classmethod
    def make(cls, base: str) -> "Victims":
        os.makedirs(base, exist_ok=True)
        v = cls(os.path.join(base, "victim"), os.path.join(base, "victimdir"))
        with open(v.file, "wb") as f:
            f.write(b"precious\n")
        os.chmod(v.file, 0o644)
        os.makedirs(v.dir, exist_ok=True)
        with open(os.path.join(v.dir, "keep"), "wb") as f:
            f.write(b"keep\n")
        return v

    def snapshot(self) -> tuple:
        st = os.lstat(self.file)
        with open(self.file, "rb") as f:
            content = f.read()
        dst = os.lstat(self.dir)
        return (content, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink,
                stat.S_IMODE(dst.st_mode), sorted(os.listdir(self.dir)),
                sorted(os.listdir(os.path.dirname(self.file))))


def docker_archive(layer: bytes, repo_tag: str) -> bytes:
    """A valid ``docker save`` archive whose one layer is ``layer``."""
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [repo_tag],
                            "Layers": ["l/layer.tar"]}]).encode()
    return tar_bytes([entry("l", DIR, mode=0o755), entry("l/layer.tar", data=layer),
                      entry(cfg_name, data=config), entry("manifest.json", data=manifest)])
