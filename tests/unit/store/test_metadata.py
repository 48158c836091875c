from hako.store.metadata import SCHEMA_VERSION, MetadataStore


def test_names_move_and_schema(tmp_path):
    path = str(tmp_path / "m.db")
    ms = MetadataStore(path)
    assert ms.add_image("sha256:a", names=("docker.io/library/x:1",)) == []
    moved = ms.add_image("sha256:b", names=("docker.io/library/x:1",))
    assert moved == [("docker.io/library/x:1", "sha256:a")]
    assert ms.resolve("docker.io/library/x:1") == "sha256:b"
    assert ms.names_of("sha256:a") == []
    ms.delete_image("sha256:b")
    assert ms.resolve("docker.io/library/x:1") is None
    ms.close()
    ms2 = MetadataStore(path)  # reopen: no migration re-run
    row = ms2._query("SELECT value FROM meta WHERE key='schema_version'")
    assert int(row[0][0]) == SCHEMA_VERSION
    assert {r.id for r in ms2.images()} == {"sha256:a"}
