"""hakod marks the directories holding one subdirectory per container ``chattr +T`` (the
ext4 Orlov hint, hako.support.fsflags): the records, snapshots, bundles and runtime state
of a container then land in a block group of their own instead of all in their parent's,
where each new inode was found by skipping every one freed in the last half minute."""

from __future__ import annotations

import os
import subprocess

import pytest

from hako.support import fsflags
from tests.daemon_harness import docker, import_busybox

pytestmark = pytest.mark.integration


def test_per_container_parents_carry_the_topdir_flag(hakod, docker_cli):
    fstype = subprocess.run(["findmnt", "-no", "FSTYPE", "-T", hakod.data_root], capture_output=True,
                            text=True, check=False).stdout.strip()
    if fstype != "ext4":
        pytest.skip(f"the flag is ext4's; the data root is on {fstype or 'an unknown filesystem'}")
    import_busybox(hakod)
    docker(hakod, docker_cli, "run", "--rm", "busybox", "true", check=True)
    parents = [os.path.join(hakod.data_root, "containers"), os.path.join(hakod.exec_root, "containers"),
               os.path.join(hakod.exec_root, "runtime")]
    parents += [os.path.join(root, "snapshots") for root, dirs, _ in os.walk(hakod.data_root)
                if "snapshots" in dirs and os.path.exists(os.path.join(root, "snapshots.db"))]
    assert len(parents) == 4, parents
    assert [p for p in parents if not fsflags.has_topdir(p)] == []
