"""The registry benchmark's clients, each starting from an empty image store.

- ``Hako``: a private hakod (tests/daemon_harness.py), driven with the docker CLI; a new one
  per figure, so a pull never finds a layer already there.
- ``Podman``: rootful podman with ``--root``/``--runroot``/``--tmpdir`` in a temporary
  directory and its config files (containers.conf with ``cgroup_manager = "cgroupfs"``,
  storage.conf, registries.conf) there too, passed by environment: nothing of the host's
  /etc/containers is read or written. Podman 4 makes ``/run/containers/networks`` for rootful
  netavark; it is removed again when the benchmark made it and it is empty.
- ``Docker``: a private dockerd + containerd (bench/dockerd.py); between pulls its images are
  removed and the store is checked empty (no image, no overlay2 layer dir).

Every command is timed as a whole (wall clock, CLI start included).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

TIMEOUT = 900


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Run ``argv``; its wall-clock seconds.

    Raises:
        RuntimeError: the command failed (with its stderr).
    """
    t0 = time.monotonic()
    res = subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.decode(errors='replace')[-2000:]}")
    return time.monotonic() - t0


class _DockerCLI:
    """A client driven with the docker CLI (``env`` selects its daemon)."""

    env: dict[str, str]

    def docker(self, *args: str) -> float:
        return timed(["docker", *args], self.env)

    def push(self, src: str, ref: str) -> float:
        self.docker("tag", src, ref)
        return self.docker("push", ref)


class Hako(_DockerCLI):
    """A fresh private hakod; ``docker`` CLI against it."""

    name = "hako"

    def __init__(self) -> None:
        from tests.daemon_harness import new_daemon

        self.d = new_daemon(extra_args=("--log-level", "info"))
        self.d.start()
        self.env = self.d.env

    def import_tar(self, tar: str, repo: str) -> None:
        with open(tar, "rb") as f:
            status, body = self.d.api("POST", "/images/create", raw=f.read(), timeout=600,
                                      query={"fromSrc": "-", "repo": repo, "tag": "latest"})
        if status != 200:
            raise RuntimeError(f"import into hakod: {status} {body!r}")

    def pull(self, ref: str) -> float:
        return self.docker("pull", ref)

    def cleanup(self) -> None:
        self.d.cleanup()


_CONTAINERS_CONF = """[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
"""


class Podman:
    """Rootful podman whose storage and config all live in one temporary directory."""

    name = "podman"
    _RUN_DIR = "/run/containers"

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="hako-bench-podman-", dir="/tmp")
        self._made_run_dir = not os.path.exists(self._RUN_DIR)
        conf = {"containers.conf": _CONTAINERS_CONF,
                "registries.conf": "unqualified-search-registries = []\n",
                "storage.conf": f'[storage]\ndriver = "overlay"\ngraphroot = "{self.root}/root"\n'
                                f'runroot = "{self.root}/run"\n'}
        for name, text in conf.items():
            with open(os.path.join(self.root, name), "w") as f:
                f.write(text)
        self.env = dict(os.environ, CONTAINERS_CONF=f"{self.root}/containers.conf",
                        CONTAINERS_REGISTRIES_CONF=f"{self.root}/registries.conf",
                        CONTAINERS_STORAGE_CONF=f"{self.root}/storage.conf")
        self.argv = ["podman", "--root", f"{self.root}/root", "--runroot", f"{self.root}/run",
                     "--tmpdir", f"{self.root}/tmp", "--storage-driver", "overlay",
                     "--cgroup-manager", "cgroupfs", "--events-backend", "none"]

    @staticmethod
    def available() -> bool:
        return shutil.which("podman") is not None

    def pull(self, ref: str) -> float:
        return timed([*self.argv, "pull", "-q", "--tls-verify=false", ref], self.env)

    def push(self, src: str, ref: str) -> float:
        return timed([*self.argv, "push", "-q", "--tls-verify=false", src, ref], self.env)

    def cleanup(self) -> None:
        from tests.daemon_harness import _unmount_under

        _unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._made_run_dir:
            for path in (f"{self._RUN_DIR}/networks", self._RUN_DIR):
                try:
                    os.rmdir(path)
                except OSError:
                    pass


class Docker(_DockerCLI):
    """Debian's dockerd, private to the benchmark (bench/dockerd.py)."""

    name = "docker"

    def __init__(self) -> None:
        from bench.dockerd import PrivateDocker
        from bench.run import cli_env

        self.ctx = PrivateDocker()
        try:
            host = self.ctx.start()
        except BaseException:
            self.ctx.cleanup()
            raise
        self.env = cli_env(host, os.path.join(self.ctx.root, "docker-config"))

    def empty_store(self) -> None:
        """Remove every image, then prove the store holds no image and no layer.

        Raises:
            RuntimeError: something is left.
        """
        ids = subprocess.run(["docker", "image", "ls", "-aq"], env=self.env, capture_output=True,
                             text=True, check=True).stdout.split()
        if ids:
            self.docker("rmi", "-f", *sorted(set(ids)))
        left = subprocess.run(["docker", "image", "ls", "-aq"], env=self.env, capture_output=True,
                              text=True, check=True).stdout.split()
        layers_dir = os.path.join(self.ctx.root, "docker", "data", "overlay2")
        layers = [n for n in os.listdir(layers_dir) if n != "l"] if os.path.isdir(layers_dir) else []
        if left or layers:
            raise RuntimeError(f"dockerd's store is not empty: images {left}, layer dirs {layers}")

    def pull(self, ref: str) -> float:
        self.empty_store()
        return self.docker("pull", ref)

    def cleanup(self) -> None:
        self.ctx.cleanup()
