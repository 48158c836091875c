"""Rootless hakod: an unprivileged user's daemon, in namespaces of its own (rootlesskit's way).

``hakod`` started by a user other than root does not serve itself: ``launch`` (the *parent*,
unprivileged) spawns the real daemon (the *child*) and

1. the child unshares a user namespace; the parent maps the user's own uid/gid to root and
   its ``/etc/subuid``/``/etc/subgid`` range to 1… with newuidmap/newgidmap;
2. the child, now root there, unshares a mount and a network namespace, makes ``/`` private
   and a ``resolv.conf`` naming slirp4netns's DNS;
3. the parent starts ``slirp4netns`` on that netns (``tap0``, 10.0.2.100/24, outbound through
   the host's stack, no way back to the host's loopback) with its API socket in the exec root;
4. the child serves as usual: bridges, veths and nft rules live in its own netns, overlay is
   mounted in its user namespace; a published port is also forwarded from the host by
   slirp4netns (``add_hostfwd``, ``hako.network.slirp``).

The parent forwards SIGTERM/SIGINT to the child, waits for it, stops slirp4netns and exits
with the child's status. Everything the child mounted goes with its mount namespace.
Defaults as rootless dockerd: data root ``$XDG_DATA_HOME/hako`` (``~/.local/share/hako``),
exec root ``$XDG_RUNTIME_DIR/hako``, socket ``$XDG_RUNTIME_DIR/hako.sock``. Cgroups: none
unless the host delegated a cgroup v2 subtree to the user (``delegated_cgroup``): without
one, resource limits are refused (``check_resources``).

Layer: daemon (4). May import: errors, linux, support, daemon.userns.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

from hako.errors import InvalidArgument

ENV = "_HAKO_ROOTLESS"  # in the child: "<write fd>,<read fd>" of the pipes to the parent
GUEST_IP = "10.0.2.100"  # slirp4netns's address for the netns (tap0)
DNS_IP = "10.0.2.3"
API_SOCKET = "slirp4netns.sock"  # in the exec root
READY_TIMEOUT = 30.0


def wanted() -> bool:
    """True in a hakod started by a user other than root (the parent's side)."""
    return os.geteuid() != 0 and not os.environ.get(ENV)


def defaults(given: tuple[str, ...] = ()) -> dict:
    """Rootless dockerd's locations for the fields not in ``given``.

    Raises:
        InvalidArgument: ``XDG_RUNTIME_DIR`` is not set and the exec root or socket is not given.
    """
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    out: dict = {"data_root": os.path.join(data, "hako")}
    if "exec_root" in given and "hosts" in given:
        return out
    run = os.environ.get("XDG_RUNTIME_DIR", "")
    if not run:
        raise InvalidArgument("rootless hakod needs XDG_RUNTIME_DIR: set it to a directory "
                              "the user owns (mode 0700), as rootless dockerd does")
    return {**out, "exec_root": os.path.join(run, "hako"),
            "hosts": ("unix://" + os.path.join(run, "hako.sock"),)}


def subordinate_maps(etc: str = "/etc") -> tuple[tuple, tuple]:
    """The user's own ids as root, then its subordinate ranges from 1 up.

    Raises:
        InvalidArgument: no range in /etc/subuid or /etc/subgid (naming the file).
    """
    import grp
    import pwd

    from hako.daemon.userns import read_ranges

    uid, gid = os.getuid(), os.getgid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        raise InvalidArgument(f"rootless hakod: uid {uid} has no passwd entry") from None
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    out = []
    for path, own, names in ((os.path.join(etc, "subuid"), uid, (user, str(uid))),
                             (os.path.join(etc, "subgid"), gid, (user, group, str(gid)))):
        ranges = read_ranges(path, names)
        if not ranges:
            raise InvalidArgument(f'rootless hakod: no subordinate ids for user "{user}" in {path}: '
                                  f'add a range (usermod --add-subuids/--add-subgids)')
        maps, nxt = [(0, own, 1)], 1
        for start, count in ranges:
            maps.append((nxt, start, count))
            nxt += count
        out.append(tuple(maps))
    return out[0], out[1]


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else "")
    if not path:
        raise InvalidArgument(f"rootless hakod needs {name}: install the {package} package")
    return path


def _expect(fd: int, want: bytes, what: str) -> None:
    got = os.read(fd, 1)
    if got != want:
        raise InvalidArgument(f"rootless hakod: the daemon exited while {what}")


# ------------------------------------------------------------------ the parent

def launch(argv: list[str]) -> int:
    """Run the daemon in its namespaces and wait for it; its exit status.

    Raises:
        InvalidArgument: a missing range, tool or directory (before anything is started).
    """
    from hako.linux import idmaps

    uid_maps, gid_maps = subordinate_maps()
    slirp = _tool("slirp4netns", "slirp4netns")
    for tool in ("newuidmap", "newgidmap"):
        _tool(tool, "uidmap")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        raise InvalidArgument("rootless hakod: slirp4netns needs /dev/net/tun readable and writable "
                              "by the user (udev's default mode is 0666)")
    exec_root = _flag(argv, "--exec-root") or defaults()["exec_root"]  # the rest: the child
    os.makedirs(exec_root, mode=0o700, exist_ok=True)
    api = os.path.join(exec_root, API_SOCKET)
    from hako.linux import syscalls

    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)  # orphaned shims and containers: ours
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    env = dict(os.environ, **{ENV: f"{to_parent_w},{to_child_r}"})
    child = subprocess.Popen([sys.executable, "-m", "hako.daemon.main", *argv], env=env,
                             pass_fds=(to_parent_w, to_child_r))
    os.close(to_parent_w)
    os.close(to_child_r)
    net = None
    try:
        _expect(to_parent_r, b"U", "creating its user namespace")
        idmaps.write(child.pid, uid_maps, gid_maps)
        os.write(to_child_w, b"M")
        _expect(to_parent_r, b"N", "creating its network namespace")
        net = _start_slirp(slirp, child.pid, api)
        os.write(to_child_w, b"G")
    except BaseException as exc:
        child.kill()
        child.wait()
        _stop(net, api)
        if isinstance(exc, InvalidArgument) and child.returncode not in (None, -signal.SIGKILL):
            return child.returncode or 1  # the child said why on stderr
        raise
    finally:
        os.close(to_parent_r)
        os.close(to_child_w)
    return _supervise(child, net, api)


def _flag(argv: list[str], name: str) -> str:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    return ""


def _start_slirp(path: str, pid: int, api: str) -> subprocess.Popen:
    """slirp4netns on the child's netns, once it reports the network configured.

    Raises:
        InvalidArgument: it exited or did not get ready (its stderr).
    """
    import select

    try:
        os.unlink(api)
    except FileNotFoundError:
        pass
    ready_r, ready_w = os.pipe()
    net = subprocess.Popen(
        [path, "--configure", "--mtu=65520", "--disable-host-loopback", f"--api-socket={api}",
         f"--ready-fd={ready_w}", f"--userns-path=/proc/{pid}/ns/user", "--netns-type=path",
         f"/proc/{pid}/ns/net", "tap0"],
        pass_fds=(ready_w,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    os.close(ready_w)
    try:
        ready, _, _ = select.select([ready_r], [], [], READY_TIMEOUT)
        if not ready or os.read(ready_r, 1) != b"1":
            net.kill()
            err = net.communicate()[1].decode(errors="replace").strip().splitlines()
            raise InvalidArgument(f"rootless hakod: slirp4netns failed: {'; '.join(err) or 'not ready'}")
    finally:
        os.close(ready_r)
    net.stderr.close()
    return net


def _stop(net: subprocess.Popen | None, api: str) -> None:
    """Stop slirp4netns (the forwards it holds on the host go with it) and drop its socket."""
    if net is not None and net.poll() is None:
        net.terminate()
        try:
            net.wait(5)
        except subprocess.TimeoutExpired:
            net.kill()
            net.wait()
    try:
        os.unlink(api)
    except FileNotFoundError:
        pass


def _supervise(child: subprocess.Popen, net: subprocess.Popen, api: str) -> int:
    """Forward the stop signals to the daemon and wait for it, reaping the shims and
    containers orphaned to us meanwhile (we are their subreaper); then stop slirp4netns and
    kill whatever the daemon left running (it was killed: nothing else can reach them)."""
    def forward(signum, _frame) -> None:
        if child.returncode is None:
            child.send_signal(signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        while child.returncode is None:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            for proc in (child, net):
                if pid == proc.pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        _stop(net, api)
        _kill_orphans()
    rc = child.returncode if child.returncode is not None else 1
    return rc if rc >= 0 else 128 - rc


def _children() -> list[int]:
    me, out = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == me:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _kill_orphans(timeout: float = 10.0) -> None:
    """SIGKILL our remaining children (shims, then the container inits reparented to us as
    each shim dies) until none is left."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = _children()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


# ------------------------------------------------------------------ the child

def enter() -> None:
    """In the child, before anything else: the namespaces, with the parent's help.

    Raises:
        OSError: the kernel refused a namespace (its reason).
    """
    from hako.linux import syscalls
    from hako.linux.mount import MS_PRIVATE, MS_REC

    w, r = (int(v) for v in os.environ.pop(ENV).split(","))
    try:
        syscalls.unshare(syscalls.CLONE_NEWUSER)
        os.write(w, b"U")
        _expect(r, b"M", "waiting for its id maps")
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWNET)
        syscalls.mount("none", "/", "", MS_REC | MS_PRIVATE, "")
        os.write(w, b"N")
        _expect(r, b"G", "waiting for slirp4netns")
    finally:
        os.close(w)
        os.close(r)
    from hako.runtime.namespaces import bring_up_loopback

    bring_up_loopback()
    os.environ["HAKO_ROOTLESS"] = "1"  # what hako-runtime and the shims inherit


def entered() -> bool:
    """True inside a rootless hakod's namespaces (after ``enter``)."""
    return os.environ.get("HAKO_ROOTLESS") == "1"


def bind_resolv_conf(exec_root: str) -> None:
    """``/etc/resolv.conf`` in our mount namespace names slirp4netns's DNS forwarder (the
    host's may name a loopback resolver unreachable from here), as rootlesskit does."""
    from hako.linux import syscalls
    from hako.linux.mount import MS_BIND
    from hako.support.atomicfile import write_bytes

    path = os.path.join(exec_root, "resolv.conf")
    write_bytes(path, f"nameserver {DNS_IP}\n".encode())
    try:
        syscalls.mount(path, "/etc/resolv.conf", "", MS_BIND, "")
    except OSError as exc:
        raise InvalidArgument(f"rootless hakod: cannot bind {path} over /etc/resolv.conf: "
                              f"{exc.strerror or exc}") from None


def api_socket(exec_root: str) -> str:
    return os.path.join(exec_root, API_SOCKET)


# ------------------------------------------------------------------ no cgroups

# HostConfig fields that need a cgroup, with the docker flag they come from
_CGROUP_FIELDS = (("Memory", "--memory"), ("MemorySwap", "--memory-swap"),
                  ("MemoryReservation", "--memory-reservation"), ("CpuShares", "--cpu-shares"),
                  ("CpuPeriod", "--cpu-period"), ("CpuQuota", "--cpu-quota"),
                  ("NanoCpus", "--cpus"), ("CpusetCpus", "--cpuset-cpus"),
                  ("CpusetMems", "--cpuset-mems"), ("BlkioWeight", "--blkio-weight"),
                  ("BlkioWeightDevice", "--blkio-weight-device"),
                  ("BlkioDeviceReadBps", "--device-read-bps"),
                  ("BlkioDeviceWriteBps", "--device-write-bps"),
                  ("BlkioDeviceReadIOps", "--device-read-iops"),
                  ("BlkioDeviceWriteIOps", "--device-write-iops"),
                  ("CpuRealtimePeriod", "--cpu-rt-period"), ("CpuRealtimeRuntime", "--cpu-rt-runtime"),
                  ("KernelMemory", "--kernel-memory"), ("CgroupParent", "--cgroup-parent"))


def no_cgroups(config) -> bool:
    """A rootless hakod on a host that delegated no cgroup to its user."""
    return bool(getattr(config, "rootless", False)) and not getattr(config, "cgroup_delegated", False)


def check_resources(config, hc: dict) -> None:
    """A rootless hakod without cgroups refuses limits instead of running without them.

    Raises:
        InvalidArgument: naming the first field (and its flag).
    """
    if not no_cgroups(config):
        return
    for key, flag in _CGROUP_FIELDS:
        value = hc.get(key)
        if value not in (None, 0, "", [], -1 if key == "MemorySwap" else None):
            raise InvalidArgument(_no_cgroups(f"HostConfig.{key} ({flag})"))
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) > 0:
        raise InvalidArgument(_no_cgroups("HostConfig.PidsLimit (--pids-limit)"))


def _no_cgroups(what: str) -> str:
    return (f"rootless hakod has no cgroups on this host (none delegated to the user): "
            f"{what} cannot be applied")


def info_fields(config) -> dict:
    """``GET /info`` of a rootless hakod without cgroups: no cgroup driver, no limits."""
    if not no_cgroups(config):
        return {}
    return {"CgroupDriver": "none", "MemoryLimit": False, "SwapLimit": False,
            "CpuCfsPeriod": False, "CpuCfsQuota": False, "CPUShares": False, "CPUSet": False,
            "PidsLimit": False, "OomKillDisable": False}


def info_options(config) -> list[str]:
    return ["name=rootless"] if getattr(config, "rootless", False) else []



# ------------------------------------------------------------------ delegated cgroup v2

def delegated_cgroup(root: str = "/sys/fs/cgroup", proc: str = "/proc/self/cgroup") -> str:
    """Our own cgroup v2 path when the host delegated it to the user (systemd's
    ``Delegate=yes``: the directory, its ``cgroup.procs`` and ``cgroup.subtree_control`` are
    ours to write), else "" (cgroup v1, or nothing delegated)."""
    if not os.path.exists(os.path.join(root, "cgroup.controllers")):
        return ""
    try:
        with open(proc) as f:
            own = next((line[3:].strip() for line in f if line.startswith("0::")), "")
    except OSError:
        return ""
    if own in ("", "/"):
        return ""
    path = os.path.join(root, own.lstrip("/"))
    if all(os.access(p, os.W_OK) for p in (path, os.path.join(path, "cgroup.procs"),
                                           os.path.join(path, "cgroup.subtree_control"))):
        return own
    return ""


def adopt_cgroup(own: str, root: str = "/sys/fs/cgroup") -> None:
    """Move every process of the delegated cgroup (this daemon, its launcher, slirp4netns)
    into a ``daemon`` leaf under it, so that it may enable controllers for the containers'
    ``<own>/containers/<id>`` (cgroup v2 has no processes in inner nodes).

    Raises:
        InvalidArgument: a process could not be moved (the kernel's reason).
    """
    top = os.path.join(root, own.lstrip("/"))
    leaf = os.path.join(top, "daemon")
    os.makedirs(leaf, exist_ok=True)
    with open(os.path.join(top, "cgroup.procs")) as f:
        pids = f.read().split()
    for pid in pids:
        try:
            with open(os.path.join(leaf, "cgroup.procs"), "a") as f:  # one pid a write
                f.write(pid + "\n")
        except ProcessLookupError:
            continue
        except OSError as exc:
            raise InvalidArgument(f"rootless hakod: cannot move pid {pid} into {leaf}: "
                                  f"{exc.strerror or exc}") from None
