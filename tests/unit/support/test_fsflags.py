"""hako.support.fsflags: the ext4 Orlov hint on per-container parent directories."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from hako.support import fsflags


def _fstype(path: str) -> str:
    return subprocess.run(["findmnt", "-no", "FSTYPE", "-T", path], capture_output=True,
                          text=True, check=False).stdout.strip()


def test_topdir_is_set_kept_and_seen_by_lsattr(tmp_path):
    if _fstype(str(tmp_path)) != "ext4":
        pytest.skip(f"the flag is ext4's; {tmp_path} is on {_fstype(str(tmp_path)) or 'unknown'}")
    d = tmp_path / "containers"
    d.mkdir()
    assert not fsflags.has_topdir(str(d))
    assert fsflags.mark_topdir(str(d))
    assert fsflags.has_topdir(str(d))
    assert fsflags.mark_topdir(str(d))  # already set: kept, still True
    if shutil.which("lsattr"):
        attrs = subprocess.run(["lsattr", "-d", str(d)], capture_output=True, text=True,
                               check=True).stdout.split()[0]
        assert "T" in attrs
    # the other flags are kept (the read-modify-write keeps what chattr set before)
    if shutil.which("chattr"):
        e = tmp_path / "other"
        e.mkdir()
        subprocess.run(["chattr", "+A", str(e)], check=True)
        assert fsflags.mark_topdir(str(e))
        attrs = subprocess.run(["lsattr", "-d", str(e)], capture_output=True, text=True,
                               check=True).stdout.split()[0]
        assert "A" in attrs and "T" in attrs


def test_refusals_are_harmless(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert not fsflags.mark_topdir(str(f))  # not a directory
    assert not fsflags.mark_topdir(str(tmp_path / "missing"))
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    assert not fsflags.mark_topdir(str(link))  # never through a symlink
    if os.path.isdir("/dev/shm") and _fstype("/dev/shm") == "tmpfs":
        d = tempfile.mkdtemp(dir="/dev/shm")
        try:
            assert not fsflags.mark_topdir(d)  # tmpfs has no such flag: refused, no error
            assert not fsflags.has_topdir(d)
        finally:
            os.rmdir(d)
