"""daemon/mounts.py: Binds, Mounts, VolumesFrom and Config.Volumes → mount points, as moby."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hako.daemon import mounts
from hako.errors import ContainerNotFound, InvalidArgument


@pytest.mark.parametrize("raw,expect", [
    ("/data", {"Type": "volume", "Name": "", "Destination": "/data", "RW": True, "Named": False,
               "CopyData": True}),
    ("vol:/data", {"Type": "volume", "Name": "vol", "Mode": "z", "Named": True}),
    ("vol:/data:ro,nocopy", {"Type": "volume", "RW": False, "CopyData": False}),
    ("/h:/c", {"Type": "bind", "Source": "/h", "Mode": "", "Propagation": "rprivate",
               "RW": True, "CopyData": False}),
    ("/h:/c:ro,Z,rshared", {"Type": "bind", "RW": False, "Propagation": "rshared",
                            "Mode": "ro,Z,rshared"}),
    ("/h:/c/../d/", {"Destination": "/d"}),
])
def test_parse_bind(raw, expect):
    mp = mounts.parse_bind(raw)
    assert {k: mp[k] for k in expect} == expect


@pytest.mark.parametrize("raw,message", [
    ("", "invalid volume specification: ''"),
    ("/data:rw", "invalid volume specification: '/data:rw'"),
    ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
    ("/h:c", "invalid mount path: 'c' mount path must be absolute"),
    ("/h:/", "destination can't be '/'"),
    ("/h:/c:rw,ro", "invalid mode: rw,ro"),
    ("/h:/c:bogus", "invalid mode: bogus"),
    ("vol:/c:rshared", "field BindOptions must not be specified"),
])
def test_parse_bind_errors(raw, message):
    with pytest.raises(InvalidArgument) as exc:
        mounts.parse_bind(raw)
    assert message in str(exc.value)


@pytest.mark.parametrize("m,message", [
    ({"Type": "nfs", "Target": "/x"}, 'invalid mount config for type "nfs": mount type unknown'),
    ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
    ({"Type": "bind", "Source": "rel", "Target": "/x"}, "invalid mount path: 'rel'"),
    ({"Type": "bind", "Source": "/nonexistent-hako-src", "Target": "/x"},
     "bind source path does not exist: /nonexistent-hako-src"),
    ({"Type": "volume", "Target": "/x", "BindOptions": {"Propagation": "shared"}},
     "field BindOptions must not be specified"),
    ({"Type": "tmpfs", "Source": "x", "Target": "/x"}, "field Source must not be specified"),
    ({"Type": "volume", "Target": "x"}, "invalid mount path: 'x' mount path must be absolute"),
    ({"Type": "volume"}, "field Target must not be empty"),
])
def test_parse_mount_errors(m, message):
    with pytest.raises(InvalidArgument) as exc:
        mounts.parse_mount(m)
    assert message in str(exc.value)


def test_plan_order_and_duplicates(tmp_path):
    other = SimpleNamespace(mounts=[
        {"Type": "bind", "Source": "/h", "Destination": "/shared", "RW": True, "Mode": "",
         "Name": "", "Driver": "", "Propagation": "rprivate", "Named": True},
        {"Type": "volume", "Source": "/v/_data", "Destination": "/vol", "RW": True, "Mode": "",
         "Name": "abc", "Driver": "local", "Propagation": "", "Named": False}])

    def lookup(name):
        if name != "other":
            raise ContainerNotFound(f"No such container: {name}")
        return other

    conf = {"Volumes": {"/vol": {}, "/img": {}}}
    hc = {"VolumesFrom": ["other:ro"], "Binds": [f"{tmp_path}:/shared"]}
    points = {mp["Destination"]: mp for mp in mounts.plan(conf, hc, lookup)}
    assert points["/shared"]["Source"] == str(tmp_path)  # a bind replaces volumes-from
    assert points["/vol"]["Name"] == "abc" and points["/vol"]["RW"] is False
    assert points["/img"]["Type"] == "volume" and points["/img"]["Name"] == ""
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /x"):
        mounts.plan({}, {"Binds": ["/a:/x", "/b:/x"]}, lookup)
    with pytest.raises(InvalidArgument, match="invalid mode: rx"):
        mounts.plan({}, {"VolumesFrom": ["other:rx"]}, lookup)
    with pytest.raises(ContainerNotFound):
        mounts.plan({}, {"VolumesFrom": ["nope"]}, lookup)


def test_oci_mounts():
    points = [mounts.parse_bind("/h:/c:ro"),
              mounts.parse_mount({"Type": "tmpfs", "Target": "/t",
                                  "TmpfsOptions": {"SizeBytes": 1024, "Mode": 0o700}})]
    bind, tmpfs = mounts.oci_mounts(points)
    assert bind == {"destination": "/c", "type": "bind", "source": "/h",
                    "options": ["rbind", "rprivate", "ro"]}
    assert tmpfs["type"] == "tmpfs" and "size=1024" in tmpfs["options"]
    assert "mode=700" in tmpfs["options"] and "noexec" in tmpfs["options"]


def test_read_only_view_of_a_container_snapshot():
    """Copy-up reads the image through a view without upper and work dir (whose unmount
    would sync the filesystem): the still-empty upper dir becomes the top lower layer."""
    from hako.daemon.bundle import read_only_view
    from hako.store.mount import Mount

    overlay = Mount("overlay", "overlay", options=("index=off", "workdir=/s/2/work",
                                                   "upperdir=/s/2/fs", "lowerdir=/s/1/fs:/s/0/fs"))
    bind = Mount("bind", "/s/0/fs", options=("rw", "rbind"))
    assert read_only_view([overlay, bind]) == [
        Mount("overlay", "overlay", options=("ro", "lowerdir=/s/2/fs:/s/1/fs:/s/0/fs")),
        Mount("bind", "/s/0/fs", options=("rbind", "ro")),
    ]
