"""Start and stop a private hakod for tests: its own data root, exec root, socket and cgroup
parent, all under one temporary directory, and its own bridge (``hkt<6 hex>``) on its own
subnet (a free /24 of 10.213.0.0/16), with ``--ip-forward=false`` so the host's forwarding
setting is never changed; teardown removes every container, mount, netns, veth, bridge,
nft table, cgroup and process it made, even when the test failed.

Under pytest-xdist each worker draws its daemons' subnets and address pools from a share
of its own (``worker()``), so two workers never pick the same one at the same moment."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Hakod:
    """A running private daemon. ``api()`` is a tiny raw client for fixtures."""

    def __init__(self, root: str, runtime: str = "hako", extra_args: tuple[str, ...] = (),
                 netns: str = "") -> None:
        self.root = root
        self.data_root = os.path.join(root, "data")
        self.exec_root = os.path.join(root, "exec")
        self.socket = os.path.join(root, "hako.sock")
        self.host = "unix://" + self.socket
        self.cgroup_parent = f"/hako-test-{os.getpid()}-{os.path.basename(root)[-6:]}"
        self.runtime = runtime
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(root, "hakod.log")
        self.netns = netns  # a network namespace file to run the daemon in (a second "host")
        self.bridge = "hkt" + os.urandom(3).hex()
        with open(os.path.join(root, "bridge"), "w") as f:  # for sweep_stale_roots
            f.write(self.bridge)
        self.subnet = free_subnet()
        self.gateway = self.subnet.rsplit(".", 1)[0] + ".1"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["HAKO_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_CONFIG"] = os.path.join(self.root, "docker-config")
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        return env

    def argv(self, listen: str = "") -> list[str]:
        """hakod's command line for this daemon (``listen`` replaces ``-H unix://<socket>``)."""
        prefix = ["nsenter", f"--net={self.netns}"] if self.netns else []
        return [*prefix, sys.executable, "-m", "hako.daemon.main", "-H", listen or self.host,
                "--data-root", self.data_root,
                "--exec-root", self.exec_root, "--cgroup-parent", self.cgroup_parent,
                "--default-runtime", self.runtime, "--config-file", os.path.join(self.root, "daemon.json"),
                "--log-level", "debug", "--bridge-name", self.bridge, "--bip", self.gateway + "/24",
                "--ip-forward=false", "--default-address-pool", address_pool(),
                *shim_args(self.extra_args), *self.extra_args]

    def start(self, timeout: float = 20.0, args: list[str] | None = None, env: dict | None = None,
              pass_fds: tuple[int, ...] = ()) -> "Hakod":
        """Start hakod (``args``: another command line that still serves ``self.socket``,
        e.g. under a supervisor or with socket activation) and wait until it answers."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args or self.argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     cwd=REPO, env=env, pass_fds=pass_fds)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hakod exited early:\n{self.read_log()}")
            try:
                if self.api("GET", "/_ping")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"hakod did not answer in {timeout}s:\n{self.read_log()}")

    def read_log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def api(self, method: str, path: str, body: object = None, query: dict | None = None,
            raw: bytes | None = None, timeout: float = 60) -> tuple[int, object]:
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        if query:
            path += "?" + urllib.parse.urlencode(query)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/x-tar" if raw is not None else "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        try:
            return resp.status, json.loads(payload) if payload else None
        except ValueError:
            return resp.status, payload

    def kill9(self) -> None:
        """SIGKILL the daemon (shims survive)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def remove_all_containers(self) -> None:
        try:
            status, items = self.api("GET", "/containers/json", query={"all": "1"})
        except OSError:
            return
        if status != 200:
            return
        for item in items or []:
            self.api("DELETE", f"/containers/{item['Id']}", query={"force": "1", "v": "1"})

    def cleanup(self) -> None:
        """Remove everything this daemon made: containers, shims, mounts, cgroups, files."""
        if self.proc and self.proc.poll() is None:
            self.remove_all_containers()
        self.stop()
        _kill_shims(self.exec_root)
        _unmount_under(self.root)
        remove_network(self.bridge, self.data_root)
        _remove_cgroups(self.cgroup_parent)
        shutil.rmtree(self.root, ignore_errors=True)


def shim_args(extra_args: tuple[str, ...] = ()) -> list[str]:
    """``--shim X`` when the environment asks for a shim (``HAKO_TEST_SHIM=conmon``), so a
    chosen set of tests runs with either shim; a test's own ``--shim`` wins."""
    shim = os.environ.get("HAKO_TEST_SHIM", "")
    if not shim or any(a == "--shim" or a.startswith("--shim=") for a in extra_args):
        return []
    return ["--shim", shim]


def shim_pid(exec_root: str, cid: str) -> int:
    """The pid of the shim monitoring container ``cid`` (full id) of the daemon whose exec
    root is ``exec_root``, from the record of either shim (``shim.json`` or ``conmon.json``)."""
    state = os.path.join(exec_root, "containers", cid)
    for record in ("shim.json", "conmon.json"):
        try:
            with open(os.path.join(state, record)) as f:
                return int(json.load(f)["shim_pid"])
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"no shim record in {state}")


def python_shim_only(test):
    """Skip ``test`` when the suite runs with ``HAKO_TEST_SHIM=conmon``: it exercises a
    feature the conmon shim refuses (log rotation to several files, compression, log
    attributes); tests/cli/test_conmon_shim.py checks those refusals."""
    import pytest

    return pytest.mark.skipif(os.environ.get("HAKO_TEST_SHIM") == "conmon",
                              reason="a log feature the conmon shim refuses")(test)


def _hakod_alive(root: str) -> bool:
    """Whether a hakod process runs on ``root`` (by its command line)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if "hako.daemon.main" in cmd and root + "/" in cmd:
            return True
    return False


def sweep_stale_roots(base: str = "/tmp") -> list[str]:
    """Remove what test daemons of runs that were killed (SIGKILL, OOM, a CI timeout: no
    teardown ran) left behind: their shims, mounts, bridges, cgroups and directories. A root
    whose hakod still runs (another run beside this one) is left alone."""
    import glob

    swept = []
    for root in sorted(glob.glob(os.path.join(base, "hako-test-*"))):
        if not os.path.isdir(root) or _hakod_alive(root):
            continue
        _kill_shims(os.path.join(root, "exec"))
        _unmount_under(root)
        try:
            bridge = Path(root, "bridge").read_text().strip()
        except OSError:
            bridge = ""
        if bridge:
            remove_network(bridge, os.path.join(root, "data"))
        for top in glob.glob(f"/sys/fs/cgroup/*/hako-test-*-{os.path.basename(root)[-6:]}"):
            _remove_cgroups("/" + os.path.relpath(top, os.path.dirname(top)))
        shutil.rmtree(root, ignore_errors=True)
        swept.append(root)
    _sweep_orphan_cgroups()
    return swept


def worker() -> tuple[int, int]:
    """(index, count) of this pytest-xdist worker; (0, 1) without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0
    return index % max(count, 1), max(count, 1)


def address_pool() -> str:
    """The daemon's --default-address-pool: 10.214.0.0/16, or this worker's share of it."""
    index, count = worker()
    if count == 1:
        return "base=10.214.0.0/16,size=24"
    bits = max(1, (count - 1).bit_length())
    return f"base=10.214.{(index << (8 - bits)) & 255}.0/{16 + bits},size=24"


def exclusive(name: str):
    """A context manager holding the host-wide lock ``name`` (flock on
    /run/lock/hako-test-<name>.lock) for a test that changes the host's configuration (users
    in /etc, …): other test processes (xdist workers, other runs) wait for it."""
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def held():
        os.makedirs("/run/lock", exist_ok=True)
        fd = os.open(f"/run/lock/hako-test-{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    return held()


def free_subnet() -> str:
    """A 10.213.N.0/24 that no route or address of the host overlaps (N random; under xdist
    only the N of this worker's share)."""
    import ipaddress
    import random

    used = subprocess.run(["ip", "-4", "-o", "route", "show", "table", "all"], capture_output=True,
                          text=True).stdout + subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True,
                                                             text=True).stdout
    index, count = worker()
    mine = [n for n in range(1, 255) if n % count == index]
    for n in random.sample(mine, len(mine)):
        net = ipaddress.ip_network(f"10.213.{n}.0/24")
        if f"10.213.{n}." not in used and "10.213.0.0/16" not in used:
            return str(net)
    raise RuntimeError("no free 10.213.N.0/24 subnet for a test daemon")


def remove_network(bridge: str, data_root: str = "") -> None:
    """Delete the test daemon's bridges (its default one and those of the networks it
    recorded), their veths and its nft table (by name)."""
    bridges = [bridge]
    try:
        with open(os.path.join(data_root, "network", "networks.json")) as f:
            bridges += [n["Device"] for n in json.load(f).get("networks", {}).values()]
    except (OSError, ValueError, KeyError):
        pass
    for br in bridges:
        out = subprocess.run(["ip", "-o", "link", "show", "master", br], capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", br], capture_output=True)
    for family in ("ip", "ip6"):
        subprocess.run(["nft", "delete", "table", family, "hako_" + bridge], capture_output=True)
    _remove_xt_chains("hako_" + bridge)


def _remove_xt_chains(prefix: str) -> None:
    """The iptables chains of a daemon run with ``--firewall-backend iptables`` (by name)."""
    if not shutil.which("iptables"):
        return
    for tool in ("iptables", "ip6tables"):
        for table in ("nat", "filter"):
            rules = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
            ours = [ln.split()[1] for ln in rules.splitlines() if ln.startswith(f"-N {prefix}-")]
            for line in rules.splitlines():
                if line.startswith("-A ") and line.split()[1] not in ours and \
                        any(line.endswith(f"-j {chain}") for chain in ours):
                    subprocess.run([tool, "-w", "-t", table, "-D", *line.split()[1:]], capture_output=True)
            for chain in ours:
                subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True)
                subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True)


def _kill_shims(exec_root: str) -> None:
    """Kill shims and container inits left under exec_root (by the pids they recorded)."""
    for dirpath, _, files in os.walk(exec_root):
        for name in ("init.pid", "shim.pid", "conmon.pid"):
            if name in files:
                try:
                    pid = int(Path(dirpath, name).read_text().strip())
                    os.kill(pid, signal.SIGKILL)
                except (ValueError, OSError):
                    pass


def _unmount_under(root: str) -> None:
    real = os.path.realpath(root)
    for _ in range(5):
        with open("/proc/self/mountinfo") as f:
            targets = [line.split()[4] for line in f]
        mine = sorted({t for t in targets if t == real or t.startswith(real + "/")}, key=len, reverse=True)
        if not mine:
            return
        for t in mine:
            subprocess.run(["umount", "-l", t], capture_output=True)


def _thaw(cgroup_dir: str) -> None:
    for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
        try:
            Path(cgroup_dir, name).write_text(value)
        except OSError:
            pass


def _sweep_orphan_cgroups() -> None:
    """Test cgroups (``/hako-test-<pytest pid>-<root>``) of runs whose process is gone, even
    when their root directory was already removed."""
    import glob

    for top in glob.glob("/sys/fs/cgroup/*/hako-test-*-*"):
        pid = os.path.basename(top).split("-")[2]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove_cgroups("/" + os.path.basename(top))


def _remove_cgroups(parent: str) -> None:
    base = "/sys/fs/cgroup"
    if not os.path.isdir(base):
        return
    for controller in os.listdir(base):
        top = os.path.join(base, controller, parent.strip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, dirs, _ in sorted(os.walk(top), key=lambda x: len(x[0]), reverse=True):
            _thaw(dirpath)  # a paused container's processes ignore SIGKILL until thawed
            procs = os.path.join(dirpath, "cgroup.procs")
            try:
                for pid in Path(procs).read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.rmdir(dirpath)
                    break
                except OSError:
                    time.sleep(0.02)


def new_daemon(runtime: str = "hako", extra_args: tuple[str, ...] = (), netns: str = "") -> Hakod:
    root = tempfile.mkdtemp(prefix="hako-test-", dir="/tmp")
    return Hakod(root, runtime, extra_args, netns)


_BUSYBOX_TAR: list[bytes] = []  # the rootfs tarball, made once per test process


def busybox_tar() -> bytes:
    """The busybox rootfs tarball (tests/data/rootfs.py), made on first use."""
    if not _BUSYBOX_TAR:
        sys.path.insert(0, str(REPO))
        from tests.data.rootfs import make_busybox_rootfs_tar

        fd, path = tempfile.mkstemp(prefix="hako-busybox-", suffix=".tar")
        os.close(fd)
        try:
            make_busybox_rootfs_tar(path)
            _BUSYBOX_TAR.append(Path(path).read_bytes())
        finally:
            os.unlink(path)
    return _BUSYBOX_TAR[0]


def import_busybox(d: Hakod, repo: str = "busybox", tag: str = "latest") -> str:
    """Import a busybox rootfs as repo:tag through the API (its tarball is left in the
    daemon's root as busybox.tar); returns the image id."""
    data = busybox_tar()
    Path(d.root, "busybox.tar").write_bytes(data)
    query = {"fromSrc": "-", "repo": repo, "tag": tag, "changes": 'CMD ["sh"]'}
    status, body = d.api("POST", "/images/create", raw=data, query=query, timeout=120)
    assert status == 200, body
    status, info = d.api("GET", f"/images/{repo}:{tag}/json")
    assert status == 200, info
    return info["Id"]


def docker(d: Hakod, cli: str, *args: str, input: bytes | None = None, timeout: float = 60,
           check: bool = False) -> subprocess.CompletedProcess:
    """Run the docker CLI ``cli`` against daemon ``d``; with ``check`` a failure is an
    AssertionError carrying the CLI's stderr."""
    res = subprocess.run([cli, *args], input=input, capture_output=True, env=d.env, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({res.returncode}): {res.stderr.decode()}")
    return res


def out(res: subprocess.CompletedProcess) -> str:
    return res.stdout.decode()


def poll(fn, timeout: float = 15.0, interval: float = 0.02):
    """Call ``fn`` until it returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(interval)
