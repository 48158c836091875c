"""Docker for the benchmark's second column: find an answering dockerd, or run a private one.

``PrivateDocker`` (``--with-docker`` only) runs Debian's containerd and dockerd on sockets
and directories under one temporary directory, and removes everything afterwards
(processes by pid, mounts, cgroups, files)::

    <tmp>/containerd/{root,state,config.toml,containerd.sock}
    <tmp>/docker/{data,exec,docker.sock,docker.pid,daemon.json}

Its network, two ways:

- ``bridge=False`` (the default; tests that only pull and run): ``--bridge=none
  --iptables=false``, in the host's network namespace (it can reach a registry on loopback);
  its containers get no network unless asked.
- ``bridge=True`` (bench/run.py: ``run --rm`` compared networking against networking):
  dockerd's defaults, i.e. its ``docker0`` bridge (172.17.0.1/16), NAT and filter rules set
  up by dockerd itself through ``iptables``, IP forwarding on; every container of the
  default network gets a veth on that bridge. Both daemons run in a network namespace of
  their own (``ip netns add``; the sockets are files, so the docker CLI reaches them as
  before): the bridge, its subnet and the rules cannot clash with the host's, with hakod's
  test bridges, or with another dockerd of the host, and removing the namespace afterwards
  removes all of them (the bridge, the veths, the nft tables dockerd's iptables made).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Callable

from bench import memory

_CONTAINERD_TOML = """version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{root}/containerd.sock"
[ttrpc]
  address = "{root}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""
BENCH_TAG = "busybox:latest"


class PrivateDocker:
    """containerd + dockerd of the host's packages, private to this benchmark run."""

    def __init__(self, bridge: bool = False) -> None:
        self.root = tempfile.mkdtemp(prefix="hako-bench-docker-", dir="/tmp")
        self.bridge = bridge
        self.netns = f"hkbench-docker-{os.getpid()}-{os.path.basename(self.root)[-6:]}" if bridge else ""
        self.cgroup_parent = f"hako-bench-docker-{os.getpid()}"
        self.procs: list[subprocess.Popen] = []
        self.key_path = "/etc/docker/key.json"
        self._key_existed = os.path.exists(self.key_path)
        self._etc_existed = os.path.isdir("/etc/docker")

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker/docker.sock"

    def start(self, timeout: float = 60.0) -> str:
        """Start containerd, then dockerd; returns dockerd's DOCKER_HOST once it answers.

        Raises:
            RuntimeError: a daemon exited or did not answer in time.
        """
        from bench.run import ping

        ctd = os.path.join(self.root, "containerd")
        dk = os.path.join(self.root, "docker")
        os.makedirs(ctd)
        os.makedirs(dk)
        with open(os.path.join(ctd, "config.toml"), "w") as f:
            f.write(_CONTAINERD_TOML.format(root=ctd))
        with open(os.path.join(dk, "daemon.json"), "w") as f:
            f.write("{}\n")
        prefix: list[str] = []
        network = ["--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
                   "--userland-proxy=false"]
        if self.bridge:  # see the module's docstring
            subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
            subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
            prefix, network = ["nsenter", f"--net=/run/netns/{self.netns}"], []
        self._spawn([*prefix, "containerd", "--config", os.path.join(ctd, "config.toml")], "containerd.log")
        self._wait_for(lambda: os.path.exists(os.path.join(ctd, "containerd.sock")), timeout, "containerd")
        self._spawn([*prefix, "dockerd", "-H", self.host, "--containerd", os.path.join(ctd, "containerd.sock"),
                     "--data-root", os.path.join(dk, "data"), "--exec-root", os.path.join(dk, "exec"),
                     "--pidfile", os.path.join(dk, "docker.pid"),
                     "--config-file", os.path.join(dk, "daemon.json"), *network,
                     "--cgroup-parent", self.cgroup_parent, "--storage-driver", "overlay2"], "dockerd.log")
        self._wait_for(lambda: ping(self.host) is not None, timeout, "dockerd")
        return self.host

    def _spawn(self, argv: list[str], log_name: str) -> None:
        with open(os.path.join(self.root, log_name), "ab") as log:
            self.procs.append(subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                               start_new_session=True))

    def _wait_for(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"{what} exited early; see {self.root}")
            if ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{what} did not come up in {timeout}s; see {self.root}")

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def cleanup(self) -> None:
        """Stop dockerd then containerd (TERM, then KILL), kill leftover shims, unmount, remove."""
        kids = memory.children_map()
        shims = [p for p in memory.subtree(self.procs[0].pid, kids) if p != self.procs[0].pid] \
            if self.procs else []
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        for pid in shims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _unmount_under(self.root)
        _remove_cgroups(self.cgroup_parent)
        if self.netns:  # its bridge, veths and nft tables go with it
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        if not self._key_existed and os.path.exists(self.key_path):
            os.unlink(self.key_path)
        if not self._etc_existed:
            try:
                os.rmdir("/etc/docker")
            except OSError:
                pass


def _unmount_under(root: str) -> None:
    from tests.daemon_harness import _unmount_under as unmount

    unmount(root)


def _remove_cgroups(parent: str) -> None:
    from tests.daemon_harness import _remove_cgroups as remove

    remove("/" + parent)


def pids_of(host: str, private: PrivateDocker | None) -> Callable[[], list[int]]:
    """The pids counted as Docker's daemon footprint: dockerd plus containerd."""
    from bench.run import ping

    if private is not None:
        return private.pids

    def find() -> list[int]:
        pid = ping(host)
        if pid is None:
            return []
        kids = memory.children_map()
        own = [p for p in kids.get(pid, []) if memory.comm(p) == "containerd"]
        return [pid] + (own or memory.procs_named("containerd"))
    return find


def ensure_busybox(t, tar_path: str) -> None:
    """Make ``busybox:latest`` exist in Docker (imported from hako's busybox tar if missing)."""
    from bench.workload import docker

    import subprocess

    probe = subprocess.run(["docker", "image", "inspect", BENCH_TAG], env=t.env,
                           capture_output=True, check=False)
    if probe.returncode == 0:
        return
    docker(t, "import", "--change", 'CMD ["sh"]', tar_path, BENCH_TAG)
    t.notes["imported"] = BENCH_TAG


def drop_busybox(t) -> None:
    """Remove the image again if the benchmark imported it."""
    from bench.workload import docker

    if t.notes.pop("imported", None):
        docker(t, "rmi", BENCH_TAG, check=False)
