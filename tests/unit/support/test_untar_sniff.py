"""untar.is_archive: what ADD extracts (a regular tar file, never a directory or FIFO)."""


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
