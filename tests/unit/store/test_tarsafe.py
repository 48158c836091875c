"""Malicious layer tars: every one is refused with InvalidArgument naming the entry, and
nothing is written outside the destination."""

import io
import os
import tarfile

import pytest

from hako.errors import InvalidArgument
from hako.store.diff import apply_layer
from hako.support import tarsafe


def _entry(name, kind=tarfile.REGTYPE, linkname="", data=b""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, linkname, len(data), 0o644
    return info, data


def _tar(*entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data else None)
    buf.seek(0)
    return buf


SYM, LNK, DIR = tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE

MALICIOUS = {
    "dotdot": [_entry("../escape", data=b"x")],
    "nested dotdot": [_entry("a/../../escape", data=b"x")],
    "symlink then write through it": [_entry("link", SYM, "/.."), _entry("link/escape", data=b"x")],
    "relative symlink escaping": [_entry("up", SYM, "../../..")],
    "symlink parent escaping": [_entry("d", DIR), _entry("d/up", SYM, "../.."), _entry("d/up/x", data=b"x")],
    "hardlink escaping": [_entry("h", LNK, "../../etc/passwd")],
    "hardlink through symlink": [_entry("s", SYM, "../.."), _entry("h", LNK, "s/etc/passwd")],
}


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_tars_are_refused(tmp_path, name):
    root = tmp_path / "root" / "snap"
    root.mkdir(parents=True)
    with pytest.raises(InvalidArgument) as exc:
        apply_layer(str(root), _tar(*MALICIOUS[name]))
    assert "invalid tar entry" in str(exc.value)
    assert not (tmp_path / "root" / "escape").exists()
    assert not (tmp_path / "escape").exists()


def test_absolute_paths_are_made_relative(tmp_path):
    apply_layer(str(tmp_path), _tar(_entry("/etc/hosts", data=b"127.0.0.1 x\n")))
    assert (tmp_path / "etc" / "hosts").read_bytes() == b"127.0.0.1 x\n"


def test_absolute_symlink_parent_resolves_inside_root(tmp_path):
    apply_layer(str(tmp_path), _tar(_entry("real", DIR), _entry("var", SYM, "/real"),
                                    _entry("var/file", data=b"ok")))
    assert (tmp_path / "real" / "file").read_bytes() == b"ok"
    assert os.readlink(tmp_path / "var") == "/real"


def test_existing_symlink_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(str(outside), root / "f")
    apply_layer(str(root), _tar(_entry("f", data=b"new")))
    assert outside.read_bytes() == b"secret"
    assert (root / "f").read_bytes() == b"new" and not os.path.islink(root / "f")


@pytest.mark.parametrize("name,clean", [("/a/b", "a/b"), ("./a//b/", "a/b"), ("a/./b/../c", "a/c"),
                                        ("/", ""), (".", "")])
def test_clean_name(name, clean):
    assert tarsafe.clean_name(name) == clean


def test_decompressed_gzip(tmp_path):
    import gzip

    raw = _tar(_entry("f", data=b"zz")).getvalue()
    diff_id, _ = apply_layer(str(tmp_path), io.BytesIO(gzip.compress(raw)))
    from hako.oci.digest import Digest

    assert diff_id == Digest.from_bytes(raw)
    assert (tmp_path / "f").read_bytes() == b"zz"
