"""A rootless hakod for tests: an unprivileged user made for the test, its daemon, cleanup.

``RootlessUser.create()`` adds a user (``useradd``, no automatic subordinate ids) and, unless
``subids=False``, one free 65536-id range in /etc/subuid and /etc/subgid; ``remove()``
deletes the user, its home (the data root is under it), the ranges and its runtime dir.
``RootlessHakod`` runs ``hakod`` as that user with nothing but its environment (HOME,
XDG_RUNTIME_DIR): it picks the rootless defaults itself. The venv's interpreter may live
where the user cannot reach (pyenv under /root), so the daemon runs on the system
``python3`` with the worktree and the venv's site-packages on PYTHONPATH (same minor version).
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.daemon_harness import REPO, UnixHTTPConnection, exclusive

SYSTEM_PYTHON = "/usr/bin/python3"
_DEVICES = ("/dev/net/tun", "/dev/fuse")  # udev makes these 0666; this machine has no udev


def system_python_ok() -> str:
    """Why the system interpreter cannot run hako, or "" when it can."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is missing"
    ver = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True).stdout.strip()
    if ver != str(tuple(sys.version_info[:2])):
        return f"{SYSTEM_PYTHON} is {ver}, the venv's packages are for {sys.version_info[:2]}"
    return ""


_etc_lock: list = []  # [the held context manager, how many users of this process hold it]


def _etc_hold(delta: int) -> None:
    """Take (+1) or drop (-1) this process's share of the host-wide "etc" lock: held while any
    user made here exists (a process's second user must not wait for its first)."""
    if delta > 0 and not _etc_lock:
        held = exclusive("etc")
        held.__enter__()
        _etc_lock[:] = [held, 0]
    _etc_lock[1] += delta
    if _etc_lock[1] == 0:
        _etc_lock.pop(0).__exit__(None, None, None)
        _etc_lock.clear()


class RootlessUser:
    def __init__(self, subids: bool = True) -> None:
        self.name = "hkrl" + uuid.uuid4().hex[:8]
        self.subids = subids
        self.uid = self.gid = -1
        self.home = ""
        self.start = 0
        self.run_dir = ""
        self.bin_dir = ""
        self._holds_etc = False  # from create() to remove(): the user lives in /etc

    def create(self) -> "RootlessUser":
        import pwd

        from hako.daemon import userns

        # other test processes (xdist workers) that change /etc, e.g. the userns module
        # that puts /etc back as it found it, must not run while this user exists
        _etc_hold(+1)
        self._holds_etc = True
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-K", "SUB_UID_COUNT=0",
                        "-K", "SUB_GID_COUNT=0", self.name], check=True, capture_output=True)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        if self.subids:
            self.start = userns._free_start(("/etc/subuid", "/etc/subgid"))
            end = self.start + 65535
            subprocess.run(["usermod", "--add-subuids", f"{self.start}-{end}",
                            "--add-subgids", f"{self.start}-{end}", self.name],
                           check=True, capture_output=True)
        self.run_dir = tempfile.mkdtemp(prefix=f"hako-rl-run-{self.uid}-", dir="/tmp")
        os.chown(self.run_dir, self.uid, self.gid)
        self.bin_dir = tempfile.mkdtemp(prefix="hako-rl-bin-", dir="/tmp")
        os.chmod(self.bin_dir, 0o755)
        for name, module in (("hakod", "hako.daemon.main"), ("hako-runtime", "hako.runtime.cli")):
            path = os.path.join(self.bin_dir, name)
            with open(path, "w") as f:
                f.write(f'#!/bin/sh\nexec {SYSTEM_PYTHON} -m {module} "$@"\n')
            os.chmod(path, 0o755)
        return self

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.home,
                "USER": self.name, "LOGNAME": self.name, "XDG_RUNTIME_DIR": self.run_dir,
                "PYTHONPATH": os.pathsep.join([str(REPO), *site.getsitepackages()]),
                "PYTHONDONTWRITEBYTECODE": "1"}

    def argv(self, *args: str) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                "env", "-i", *(f"{k}={v}" for k, v in self.env().items()), *args]

    def pids(self) -> list[int]:
        """Processes running as the user (what its hakod started)."""
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid == self.uid:
                        out.append(int(entry))
                except FileNotFoundError:
                    pass
        return out

    def remove(self) -> None:
        """Kill what is left of the user's processes (by pid), delete the user, its home, its
        ranges and directories."""
        if self.uid < 0:
            self._release_etc()
            return
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["userdel", "-r", "-f", self.name], capture_output=True)
        for path in ("/etc/subuid", "/etc/subgid"):  # userdel drops them; make sure
            lines = Path(path).read_text().splitlines(keepends=True) if os.path.exists(path) else []
            kept = [line for line in lines if not line.startswith(self.name + ":")]
            if kept != lines:
                with open(path, "r+") as f:
                    f.write("".join(kept))
                    f.truncate()
        for path in (self.home, self.run_dir, self.bin_dir):
            if path and path != "/":
                shutil.rmtree(path, ignore_errors=True)
        self._release_etc()

    def _release_etc(self) -> None:
        if self._holds_etc:
            self._holds_etc = False
            _etc_hold(-1)


class DevicesOpened:
    """/dev/net/tun and /dev/fuse as udev leaves them (0666) while the test runs."""

    def __init__(self) -> None:
        self.modes: dict[str, int] = {}

    def __enter__(self) -> "DevicesOpened":
        for path in _DEVICES:
            if os.path.exists(path):
                self.modes[path] = os.stat(path).st_mode & 0o7777
                os.chmod(path, 0o666)
        return self

    def __exit__(self, *exc) -> None:
        for path, mode in self.modes.items():
            os.chmod(path, mode)


class RootlessHakod:
    def __init__(self, user: RootlessUser, log_dir: str, extra_args: tuple[str, ...] = ()) -> None:
        self.user = user
        self.extra_args = extra_args
        self.socket = os.path.join(user.run_dir, "hako.sock")
        self.host = "unix://" + self.socket
        self.log_path = os.path.join(log_dir, f"hakod-{user.name}.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "RootlessHakod":
        with open(self.log_path, "ab") as log:
            from tests.daemon_harness import shim_args

            args = ("--log-level", "debug", *shim_args(self.extra_args), *self.extra_args)
            self.proc = subprocess.Popen(self.user.argv("hakod", *args),
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         cwd="/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rootless hakod exited early:\n{self.read_log()}")
            if os.path.exists(self.socket):
                try:
                    conn = UnixHTTPConnection(self.socket, timeout=5)
                    conn.request("GET", "/_ping")
                    if conn.getresponse().status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"rootless hakod did not answer in {timeout}s:\n{self.read_log()}")

    def inner_pid(self) -> int:
        """The daemon proper: the launcher's child running hako.daemon.main."""
        for pid in self.user.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if ppid == self.proc.pid and b"hako.daemon.main" in cmd:
                return pid
        raise AssertionError("no inner hakod process")

    def read_log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def env(self, config_dir: str) -> dict[str, str]:
        env = dict(os.environ, DOCKER_HOST=self.host, DOCKER_CONFIG=config_dir)
        env.pop("DOCKER_CONTEXT", None)
        return env

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode
