"""ps/images rows, tables and human units like the docker CLI (cli/formatting.py)."""

import pytest

from hako.cli import formatting as fmt

NOW = 1_700_000_000.0


@pytest.mark.parametrize("seconds,want", [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (59 * 60, "59 minutes"),
    (3600, "About an hour"), (2 * 3600, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (14 * 86400, "2 weeks"), (60 * 86400, "2 months"),
    (800 * 86400, "2 years"),
])
def test_human_duration(seconds, want):
    assert fmt.human_duration(seconds) == want


def test_ago():
    assert fmt.ago(NOW - 125, NOW) == "2 minutes ago"


@pytest.mark.parametrize("text,width,want", [
    ("short", 20, "short"), ("exactly-twenty-chars", 20, "exactly-twenty-chars"),
    ("sh -c 'echo hello world'", 20, "sh -c 'echo hello w…"),
])
def test_ellipsis(text, width, want):
    assert fmt.ellipsis(text, width) == want


def test_tabwrite_pads_to_min_width_and_three_spaces_but_not_the_last_column():
    out = fmt.tabwrite(["A\tBBBBBBBBBBBB\tC", "x\ty\tlast"])
    assert out == ("A         BBBBBBBBBBBB   C\n"
                   "x         y              last\n")


def _container(**kw):
    c = {"Id": "a" * 64, "Names": ["/web"], "Image": "busybox", "ImageID": "sha256:" + "b" * 64,
         "Command": "sh -c 'echo hello world'", "Created": int(NOW) - 120,
         "Status": "Up 2 minutes", "State": "running", "Ports": [], "Labels": {}}
    c.update(kw)
    return c


def test_ps_table_matches_docker_layout():
    rows = [fmt.container_row(_container(), now=NOW),
            fmt.container_row(_container(Id="c" * 64, Names=["/db"], Command="true",
                                         Status="Exited (0) 5 seconds ago"), now=NOW)]
    out = fmt.render(fmt.PS_TABLE, rows, fmt.PS_HEADERS)
    assert out.splitlines() == [
        "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS"
        "                     PORTS     NAMES",
        'aaaaaaaaaaaa   busybox   "sh -c \'echo hello w…"   2 minutes ago   Up 2 minutes'
        "                         web",
        'cccccccccccc   busybox   "true"                   2 minutes ago   Exited (0) 5 seconds ago'
        "             db",
    ]


def test_ps_row_no_trunc_and_link_names():
    c = _container(Names=["/web", "/other/alias"])
    assert fmt.container_row(c, trunc=True, now=NOW)["Names"] == "web"
    row = fmt.container_row(c, trunc=False, now=NOW)
    assert row["Names"] == "web,other/alias"
    assert row["ID"] == "a" * 64
    assert row["Command"] == '"sh -c \'echo hello world\'"'


def test_ps_row_image_id_is_truncated():
    c = _container(Image="sha256:" + "b" * 64)
    assert fmt.container_row(c, now=NOW)["Image"] == "b" * 12


def test_ps_row_size():
    c = _container(SizeRw=12, SizeRootFs=2_000_000)
    assert fmt.container_row(c, now=NOW)["Size"] == "12B (virtual 2MB)"


@pytest.mark.parametrize("ports,want", [
    ([], ""),
    ([{"PrivatePort": 80, "Type": "tcp"}, {"PrivatePort": 81, "Type": "tcp"}], "80-81/tcp"),
    ([{"PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0", "PublicPort": 8080}],
     "0.0.0.0:8080->80/tcp"),
    ([{"PrivatePort": 80, "Type": "tcp", "IP": "::", "PublicPort": 8080}],
     "[::]:8080->80/tcp"),
    ([{"PrivatePort": 53, "Type": "udp", "IP": "0.0.0.0", "PublicPort": 53}],
     "0.0.0.0:53->53/udp"),
])
def test_display_ports(ports, want):
    assert fmt.display_ports(ports) == want


def test_custom_table_format_and_plain_format():
    rows = [fmt.container_row(_container(), now=NOW)]
    assert fmt.render("table {{.Names}}\\t{{.Status}}", rows, fmt.PS_HEADERS) == (
        "NAMES     STATUS\nweb       Up 2 minutes\n")
    assert fmt.render("{{.Names}}:{{.ID}}", rows, fmt.PS_HEADERS) == "web:aaaaaaaaaaaa\n"


def _image(**kw):
    img = {"Id": "sha256:" + "d" * 64, "RepoTags": ["busybox:latest"], "RepoDigests": [],
           "Created": int(NOW) - 3600 * 3, "Size": 1_985_669}
    img.update(kw)
    return img


def test_images_table():
    rows = fmt.image_rows(_image(), now=NOW)
    rows += fmt.image_rows(_image(RepoTags=[], Id="sha256:" + "e" * 64), now=NOW)
    out = fmt.render(fmt.IMAGES_TABLE, rows, fmt.IMAGES_HEADERS)
    assert out.splitlines() == [
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE",
        "busybox      latest    dddddddddddd   3 hours ago   1.99MB",
        "<none>       <none>    eeeeeeeeeeee   3 hours ago   1.99MB",
    ]


def test_images_rows_per_tag_and_digests():
    img = _image(RepoTags=["docker.io/library/a:1", "a:2"],
                 RepoDigests=["a@sha256:" + "f" * 64])
    rows = fmt.image_rows(img, digests=True, now=NOW)
    assert [(r["Repository"], r["Tag"], r["Digest"]) for r in rows] == [
        ("a", "1", "sha256:" + "f" * 64), ("a", "2", "sha256:" + "f" * 64)]
    rows = fmt.image_rows(img, trunc=False, now=NOW)
    assert rows[0]["ID"] == "sha256:" + "d" * 64


def test_inspect_json_is_indented_by_four_and_html_escaped():
    out = []
    fmt.print_json_indent([{"A": "<x>"}], out.append)
    assert out == ['[\n    {\n        "A": "\\u003cx\\u003e"\n    }\n]\n']
