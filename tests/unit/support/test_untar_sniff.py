"""untar.is_archive: what ADD extracts (a regular tar file, never a directory or FIFO); damaged
compressed archives are invalid archives, not crashes."""

import pytest


def test_is_archive_only_for_regular_tar_files(tmp_path):
    import tarfile

    from hako.support import untar

    (tmp_path / "d").mkdir()
    (tmp_path / "plain").write_bytes(b"not a tar")
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tf:
        tf.add(tmp_path / "plain", "plain")
    assert untar.is_archive(str(tmp_path / "a.tar.gz"))
    assert not untar.is_archive(str(tmp_path / "d"))
    assert not untar.is_archive(str(tmp_path / "plain"))


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_gzip_is_an_invalid_archive(tmp_path, damage):
    import gzip
    import io
    import tarfile

    from hako.errors import InvalidArgument
    from hako.support import untar

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("a")
        data = bytes(range(256)) * 1000
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    good = gzip.compress(buf.getvalue())
    bad = good[:20] + bytes(50) + good[70:] if damage == "corrupt" else good[: len(good) // 2]
    with pytest.raises(InvalidArgument) as exc:
        untar.extract(io.BytesIO(bad), str(tmp_path), untar.Options())
    assert str(exc.value).startswith("invalid tar archive")
