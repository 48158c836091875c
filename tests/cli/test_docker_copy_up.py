"""Black-box: an image's VOLUME content copied into the container's new volume (copy-up)
through the real docker CLI: bytes, owners, modes, links kept (holes: the unit tests), and nothing read or
written through an image symlink outside the image.

Every test removes the containers, images and host directories it made, even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import uuid

import pytest

from tests.daemon_harness import docker, out

pytestmark = pytest.mark.integration

_SEED = r"""FROM busybox
RUN mkdir -p /seed/sub/deeper \
 && dd if=/dev/urandom of=/seed/big bs=65536 count=48 2>/dev/null \
 && : > /seed/empty \
 && dd if=/dev/zero of=/seed/sparse bs=1 count=1 seek=33554431 2>/dev/null \
 && echo deep > /seed/sub/deeper/f \
 && ln /seed/big /seed/big-again \
 && ln -s /etc /seed/etc-link \
 && ln -s sub/deeper /seed/rel-link \
 && chown -R 1234:5678 /seed/sub && chmod 4751 /seed/sub/deeper/f && chmod 0700 /seed/sub \
 && md5sum /seed/big /seed/sparse /seed/empty > /sums
VOLUME /seed
"""


@pytest.fixture
def made(hakod, docker_cli):
    things = {"containers": [], "images": [], "dirs": []}
    yield things
    for c in things["containers"]:
        docker(hakod, docker_cli, "rm", "-f", "-v", c)
    for i in things["images"]:
        docker(hakod, docker_cli, "rmi", "-f", i)
    for d in things["dirs"]:
        shutil.rmtree(d, ignore_errors=True)


def _build(hakod, docker_cli, made, dockerfile: str) -> str:
    ctx = tempfile.mkdtemp(prefix="hako-copyup-ctx-", dir="/tmp")
    made["dirs"].append(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(dockerfile)
    tag = f"copyup-{uuid.uuid4().hex[:8]}"
    made["images"].append(tag)
    docker(hakod, docker_cli, "build", "-q", "-t", tag, ctx, check=True, timeout=120)
    return tag


def _volume_dir(hakod, docker_cli, container: str) -> str:
    [m] = json.loads(out(docker(hakod, docker_cli, "inspect", "-f", "{{json .Mounts}}",
                                container, check=True)))
    return m["Source"]


def test_copy_up_keeps_bytes_holes_owners_modes_and_links(hakod, docker_cli, made):
    tag = _build(hakod, docker_cli, made, _SEED)
    name = f"cu-{uuid.uuid4().hex[:8]}"
    made["containers"].append(name)
    res = docker(hakod, docker_cli, "run", "--name", name, tag, "sh", "-c",
                 "md5sum -c /sums >/dev/null && echo sums-ok; "
                 "stat -c '%n %u:%g %a' /seed/sub /seed/sub/deeper/f /seed/empty; stat -c %s /seed/sparse",
                 check=True)
    assert out(res).splitlines() == [
        "sums-ok",
        "/seed/sub 1234:5678 700",
        "/seed/sub/deeper/f 1234:5678 4751",
        "/seed/empty 0:0 644",
        "33554432",
    ]
    vol = _volume_dir(hakod, docker_cli, name)
    big, again = os.lstat(os.path.join(vol, "big")), os.lstat(os.path.join(vol, "big-again"))
    assert big.st_ino == again.st_ino and big.st_size == 48 * 65536  # one inode, as in the image
    for link, target in (("etc-link", "/etc"), ("rel-link", "sub/deeper")):
        path = os.path.join(vol, link)
        assert stat.S_ISLNK(os.lstat(path).st_mode) and os.readlink(path) == target


def test_copy_up_through_a_hostile_symlink_stays_in_the_image(hakod, docker_cli, made):
    """The image's volume path is a symlink climbing out of its root to a host directory:
    it resolves inside the image (where nothing is), so the host's files are not copied."""
    host = tempfile.mkdtemp(prefix="hako-copyup-host-", dir="/tmp")
    made["dirs"].append(host)
    with open(os.path.join(host, "secret"), "w") as f:
        f.write("host data\n")
    tag = _build(hakod, docker_cli, made, "FROM busybox\n"
                 f"RUN ln -s {host} /data\nVOLUME /data\n")
    name = f"cu-{uuid.uuid4().hex[:8]}"
    made["containers"].append(name)
    res = docker(hakod, docker_cli, "run", "--name", name, tag, "ls", "-A", "/data", check=True)
    assert out(res) == ""
    assert os.listdir(_volume_dir(hakod, docker_cli, name)) == []
    assert os.listdir(host) == ["secret"]


def _rootfs_options(hakod, cid: str) -> str:
    target = os.path.join(hakod.exec_root, "containers", cid, "rootfs")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == target:
                return line.split(" - ")[1]
    raise AssertionError(f"{target} is not mounted")


def test_auto_remove_rootfs_is_volatile_others_are_synced(hakod, docker_cli, made):
    """A --rm container's overlay is volatile (its layer is deleted at exit, so its unmount
    need not sync the filesystem and the copy-up just written with it), as Podman does; the
    layer of any other container keeps Docker's synced overlay."""
    gone = out(docker(hakod, docker_cli, "run", "-d", "--rm", "busybox", "sleep", "60", check=True)).strip()
    kept = out(docker(hakod, docker_cli, "run", "-d", "busybox", "sleep", "60", check=True)).strip()
    made["containers"] += [gone, kept]
    assert "volatile" in _rootfs_options(hakod, gone)
    assert "volatile" not in _rootfs_options(hakod, kept)
