"""JSON shaping of the /images routes, without a server."""

from hako.daemon.api.routes.images import inspect_json, load_lines, status_line, summary_json
from hako.image.model import Image, created_unix

ID = "sha256:" + "ab" * 32


def _img(**kw):
    base = dict(id=ID, repo_tags=("busybox:latest",), repo_digests=(), parent="",
                created="2024-01-02T03:04:05.123456789Z", config={"Cmd": ["sh"]}, size=10,
                virtual_size=10, layers=("sha256:" + "cd" * 32,), comment="Imported from -",
                architecture="amd64")
    base.update(kw)
    return Image(**base)


def test_summary_and_dangling():
    s = summary_json(_img())
    assert s["Id"] == ID and s["RepoTags"] == ["busybox:latest"] and s["Created"] == 1704164645
    assert s["Containers"] == -1 and s["SharedSize"] == -1 and s["Labels"] is None
    d = summary_json(_img(repo_tags=()))
    assert d["RepoTags"] == ["<none>:<none>"] and d["RepoDigests"] == ["<none>@<none>"]


def test_inspect_fields():
    out = inspect_json(_img(), {"Name": "overlay2", "Data": {"UpperDir": "/x"}})
    for key in ("Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container",
                "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os",
                "Size", "VirtualSize", "GraphDriver", "RootFS", "Metadata"):
        assert key in out
    assert out["Config"]["Cmd"] == ["sh"] and out["Config"]["Hostname"] == ""
    assert out["RootFS"] == {"Type": "layers", "Layers": ["sha256:" + "cd" * 32]}
    assert out["Metadata"]["LastTagTime"] == "0001-01-01T00:00:00Z"


def test_stream_lines():
    assert status_line(status=ID) == b'{"status":"%s"}\r\n' % ID.encode()
    assert list(load_lines(["Loaded image: a:b"])) == [b'{"stream":"Loaded image: a:b\\n"}\r\n']


def test_created_unix_handles_nanoseconds():
    assert created_unix("1970-01-01T00:00:10.999999999Z") == 10
    assert created_unix("") == 0
