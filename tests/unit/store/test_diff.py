"""Whiteouts both ways: applying .wh. entries, and producing them from changes."""

import io
import os
import tarfile

import pytest

from hako.store import changes as chg
from hako.store.diff import apply_layer
from tests.data.rootfs import make_layer_tar


def _f(name, data=b"", mode=0o644):
    info = tarfile.TarInfo(name)
    info.mode = mode
    return (info, data)


def _d(name):
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info


def _apply(root, *entries):
    return apply_layer(str(root), io.BytesIO(make_layer_tar(list(entries))))


@pytest.fixture
def base(tmp_path):
    root = tmp_path / "fs"
    root.mkdir()
    _apply(root, _d("etc"), _f("etc/a", b"a"), _f("etc/b", b"b"), _d("opq"), _f("opq/old", b"o"),
           _d("gone"), _f("gone/x", b"x"))
    return root


def test_whiteout_deletes_file_and_dir(base):
    _apply(base, _f("etc/.wh.a"), _f(".wh.gone"))
    assert not (base / "etc" / "a").exists() and (base / "etc" / "b").exists()
    assert not (base / "gone").exists()


def test_opaque_dir_keeps_only_new_entries(base):
    _apply(base, _d("opq"), _f("opq/.wh..wh..opq"), _f("opq/new", b"n"))
    assert sorted(os.listdir(base / "opq")) == ["new"]


def test_hardlinks_symlinks_modes(tmp_path):
    link = tarfile.TarInfo("h")
    link.type, link.linkname = tarfile.LNKTYPE, "f"
    sym = tarfile.TarInfo("s")
    sym.type, sym.linkname = tarfile.SYMTYPE, "f"
    diff_id, size = _apply(tmp_path, _f("f", b"data", 0o4755), link, sym)
    assert os.stat(tmp_path / "h").st_ino == os.stat(tmp_path / "f").st_ino
    assert os.readlink(tmp_path / "s") == "f"
    assert os.stat(tmp_path / "f").st_mode & 0o7777 == 0o4755
    assert size == 4 and str(diff_id).startswith("sha256:")


def test_dir_changes_and_layer_round_trip(tmp_path, base):
    child = tmp_path / "child"
    import shutil

    shutil.copytree(base, child, symlinks=True)
    (child / "etc" / "a").unlink()
    (child / "etc" / "new").write_bytes(b"new")
    shutil.rmtree(child / "gone")
    found = {(c.path, c.kind) for c in chg.dir_changes(str(base), str(child))}
    assert ("/etc/a", chg.Kind.DELETED) in found
    assert ("/etc/new", chg.Kind.ADDED) in found
    assert ("/gone", chg.Kind.DELETED) in found
    assert ("/gone/x", chg.Kind.DELETED) not in found
    # produce a layer from the changes and apply it to a copy of the parent
    buf = io.BytesIO()
    chg.write_layer(chg.dir_changes(str(base), str(child)), str(child), buf)
    names = tarfile.open(fileobj=io.BytesIO(buf.getvalue())).getnames()
    assert "etc/.wh.a" in names and ".wh.gone" in names and "etc/new" in names
    target = tmp_path / "target"
    shutil.copytree(base, target, symlinks=True)
    buf.seek(0)
    apply_layer(str(target), buf)
    assert sorted(os.listdir(target / "etc")) == sorted(os.listdir(child / "etc"))
    assert not (target / "gone").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="overlay whiteouts are 0:0 device nodes: needs root")
def test_overlay_format_whiteouts_and_back(tmp_path):
    lower = tmp_path / "lower"
    upper = tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    _apply(lower, _d("etc"), _f("etc/a", b"a"), _d("opq"), _f("opq/old", b"o"))
    apply_layer(str(upper), io.BytesIO(make_layer_tar(
        [_d("etc"), _f("etc/.wh.a"), _d("opq"), _f("opq/.wh..wh..opq"), _f("opq/new", b"n")])),
        "overlay", [str(lower)])
    st = os.lstat(upper / "etc" / "a")
    assert os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    assert os.getxattr(upper / "opq", "trusted.overlay.opaque") == b"y"
    changes = chg.overlay_changes(str(upper), [str(lower)])
    assert ("/etc/a", chg.Kind.DELETED) in {(c.path, c.kind) for c in changes}
    buf = io.BytesIO()
    chg.write_layer(changes, str(upper), buf)
    names = tarfile.open(fileobj=io.BytesIO(buf.getvalue())).getnames()
    assert "etc/.wh.a" in names and "opq/.wh..wh..opq" in names and "opq/new" in names
