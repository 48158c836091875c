"""The hostile-archive corpus against every extractor entry point, called directly: layer
apply (whole-filesystem and overlay-upper whiteouts), the ``docker load`` archive, build
contexts and ``ADD`` of a local tar. Nothing outside the destination may change; each
call either succeeds inside the destination or fails with InvalidArgument."""

from __future__ import annotations

import io
import os
import stat

import pytest

from hako.build import context as build_context
from hako.build import fsops
from hako.errors import InvalidArgument
from hako.image import archive
from hako.store.diff import apply_layer
from hako.support import untar
from tests.data.hostile import DIR, Victims, corpus, entry, tar_bytes

pytestmark = pytest.mark.integration  # device nodes and lchown need root


def _layer_delete(data: bytes, dest: str) -> None:
    apply_layer(dest, io.BytesIO(data), "delete")


def _layer_overlay(data: bytes, dest: str) -> None:
    apply_layer(dest, io.BytesIO(data), "overlay")


def _load_archive(data: bytes, dest: str) -> None:
    archive._extract(io.BytesIO(data), dest)


def _context(data: bytes, dest: str) -> None:
    build_context.extract_tar(io.BytesIO(data), dest)


def _add_local_tar(data: bytes, dest: str) -> None:
    src = dest + ".tar"
    with open(src, "wb") as f:
        f.write(data)
    os.makedirs(os.path.join(dest, "dst"))
    fsops.extract_archive(src, dest, os.path.join(dest, "dst"), None)


EXTRACTORS = {"layer (delete)": _layer_delete, "layer (overlay)": _layer_overlay,
              "load archive": _load_archive, "build context": _context,
              "ADD local tar": _add_local_tar}
CASES = sorted(corpus("/v", "/vd"))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("extractor", sorted(EXTRACTORS))
def test_nothing_outside_the_destination_changes(tmp_path, extractor, case):
    victims = Victims.make(str(tmp_path / "host"))
    before = victims.snapshot()
    dest = tmp_path / "dest"
    dest.mkdir()
    data = tar_bytes(corpus(victims.file, victims.dir)[case])
    try:
        EXTRACTORS[extractor](data, str(dest))
    except InvalidArgument:
        pass
    assert victims.snapshot() == before
    assert sorted(os.listdir(tmp_path)) == sorted(["host", "dest"] + (
        ["dest.tar"] if extractor == "ADD local tar" else []))


@pytest.mark.parametrize("extractor", sorted(EXTRACTORS))
def test_file_replaces_symlink_instead_of_writing_through_it(tmp_path, extractor):
    victims = Victims.make(str(tmp_path / "host"))
    dest = tmp_path / "dest"
    dest.mkdir()
    EXTRACTORS[extractor](tar_bytes(corpus(victims.file, victims.dir)[
        "symlink then file of the same name"]), str(dest))
    x = dest / ("dst/x" if extractor == "ADD local tar" else "x")
    assert not x.is_symlink() and x.read_bytes() == b"pwned"
    assert stat.S_IMODE(x.lstat().st_mode) == 0o4777  # the archive's own file, inside


@pytest.mark.parametrize("whiteouts", ["delete", "overlay"])
@pytest.mark.parametrize("name", ["a/.wh..", "a/.wh...", ".wh.."])
def test_whiteout_of_dot_is_refused(tmp_path, whiteouts, name):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep").write_bytes(b"k")
    with pytest.raises(InvalidArgument, match="invalid whiteout"):
        apply_layer(str(tmp_path), io.BytesIO(tar_bytes([entry(name)])), whiteouts)
    assert (tmp_path / "a" / "keep").read_bytes() == b"k"


def test_whiteout_and_opaque_act_inside_the_root(tmp_path):
    victims = Victims.make(str(tmp_path / "host"))
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "old").write_bytes(b"old")
    (root / "gone").write_bytes(b"x")
    layer = tar_bytes([entry(".wh.gone"), entry("etc", DIR, mode=0o755),
                       entry("etc/.wh..wh..opq"), entry("etc/new", data=b"new"),
                       entry("vd", tarfile_sym(), linkname=victims.dir), entry("vd/.wh..wh..opq")])
    apply_layer(str(root), io.BytesIO(layer), "delete")
    assert sorted(os.listdir(root / "etc")) == ["new"]
    assert not (root / "gone").exists()
    assert os.listdir(victims.dir) == ["keep"]


def tarfile_sym():
    import tarfile

    return tarfile.SYMTYPE


def test_entry_count_limit(tmp_path):
    data = tar_bytes([entry(f"f{i}") for i in range(101)])
    with pytest.raises(InvalidArgument, match="more than 100 entries"):
        untar.extract(io.BytesIO(data), str(tmp_path), untar.Options(limits=untar.Limits(100)))


def test_byte_limit_counts_the_whole_archive(tmp_path):
    data = tar_bytes([entry("a", data=b"x" * 600), entry("b", data=b"x" * 600)])
    with pytest.raises(InvalidArgument, match="'b'"):
        untar.extract(io.BytesIO(data), str(tmp_path),
                      untar.Options(limits=untar.Limits(max_bytes=1000)))
    assert not (tmp_path / "b").exists()


def test_huge_declared_size_is_refused_before_writing(tmp_path):
    data = tar_bytes(corpus("/v", "/vd")["huge sparse file"])
    with pytest.raises(InvalidArgument, match="do not fit"):
        apply_layer(str(tmp_path), io.BytesIO(data))
    assert not (tmp_path / "big").exists()


def test_hardlink_must_target_an_entry_of_the_archive(tmp_path):
    (tmp_path / "pre").write_bytes(b"existing")
    data = tar_bytes([entry("h", tarfile_lnk(), linkname="pre")])
    with pytest.raises(InvalidArgument, match="not in the archive"):
        untar.extract(io.BytesIO(data), str(tmp_path))
    # a layer may link to what lower layers put in its root
    apply_layer(str(tmp_path), io.BytesIO(data), "delete")
    assert os.path.samefile(tmp_path / "h", tmp_path / "pre")


def tarfile_lnk():
    import tarfile

    return tarfile.LNKTYPE


def test_add_absolute_symlinks_mean_the_container_root(tmp_path):
    root = tmp_path / "rootfs"
    (root / "real").mkdir(parents=True)
    src = tmp_path / "a.tar"
    src.write_bytes(tar_bytes([entry("l", tarfile_sym(), linkname="/real"),
                               entry("l/f", data=b"in real")]))
    (root / "dst").mkdir()
    fsops.extract_archive(str(src), str(root), str(root / "dst"), None)
    assert (root / "real" / "f").read_bytes() == b"in real"
