"""Podman's column in bench/run.py, where ``podman`` is installed.

Rootful Podman 4 whose storage, run dirs and config live in a temporary directory
(``bench/regclients.Podman``: nothing of the host's /etc/containers is read or written),
with runc as its runtime (crun refuses this host's hybrid cgroup layout without a v1
hugetlb mount, which the benchmark will not add to the host; Docker's column runs runc
too) and every command run inside a network namespace of its own (``nsenter --net``), so
its default network (netavark's podman0 bridge, its NAT and filter rules, IP forwarding)
stays off the host's, as the private dockerd's does. Podman has no daemon: its column has
no daemon figures; per container it keeps a conmon beside each container.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.workload import Target

RUN_DIR = "/run/containers"


class PrivatePodman:
    """Set up (``start``) and remove (``cleanup``) everything Podman's column uses."""

    def __init__(self) -> None:
        from bench.regclients import Podman

        self.made_run_dir = not os.path.exists(RUN_DIR)
        self.podman = Podman()
        self.root = self.podman.root
        # Podman's default nofile limit (1048576) is above this host's hard limit (20000,
        # no CAP_SYS_RESOURCE: MACHINE-NOTES.md); the container's setrlimit would fail
        with open(os.path.join(self.root, "containers.conf"), "a") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
        self.netns = f"hako-bench-podman-{os.getpid()}"
        self.netns_made = False

    @staticmethod
    def available() -> bool:
        return shutil.which("podman") is not None and shutil.which("runc") is not None

    def start(self, busybox_tar: str) -> Target:
        """Make the namespace, import busybox from hako's rootfs tar; the column's Target."""
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        self.netns_made = True
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        cli = ["nsenter", f"--net=/run/netns/{self.netns}", *self.podman.argv, "--runtime", "runc"]
        t = Target("podman", self.podman.env, lambda: [], image="localhost/busybox:latest", cli=cli)
        subprocess.run([*cli, "import", "--change", 'CMD ["sh"]', busybox_tar, "localhost/busybox:latest"],
                       env=t.env, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
        return t

    def cleanup(self) -> None:
        cli = ["nsenter", f"--net=/run/netns/{self.netns}", *self.podman.argv, "--runtime", "runc"]
        if self.netns_made:
            subprocess.run([*cli, "rm", "-af", "-t", "0"], env=self.podman.env, capture_output=True,
                           check=False, stdin=subprocess.DEVNULL, timeout=300)
        self.podman.cleanup()  # unmounts and removes its storage and run dirs
        if self.netns_made:  # its bridge, veths and firewall rules go with it
            subprocess.run(["ip", "netns", "del", self.netns], check=False, capture_output=True)
        if self.made_run_dir:  # netavark's state for the namespace's network
            shutil.rmtree(RUN_DIR, ignore_errors=True)
