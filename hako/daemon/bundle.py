"""From a container record to a running shim: rootfs mount, OCI bundle, shim spawn.

On-disk layout (exec root, tmpfs-like, lost at reboot like containerd's state)::

    containers/<id>/config.json   the OCI runtime spec
    containers/<id>/rootfs/       the overlay mount of the container's snapshot
    containers/<id>/...           the shim's state: init.pid, shim.sock, exit.json

Every function here is blocking; the ContainerService calls them from its executor.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any

from hako.linux import mountinfo
from hako.daemon.state import Container
from hako.errors import InvalidArgument
from hako.support import atomicfile

log = logging.getLogger("hako.bundle")

_INIT_CANDIDATES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")


def rootfs_dir(svc: Any, c: Container) -> str:
    return os.path.join(svc.bundle(c), "rootfs")


def mount_rootfs(svc: Any, c: Container) -> str:
    """Mount the container's snapshot at <bundle>/rootfs (idempotent). The overlay of an
    ``AutoRemove`` container is ``volatile`` (as Podman mounts ``--rm`` containers): its
    layer is deleted at its exit, or at the restore after a host crash, so nothing needs
    it synced, and unmounting a non-volatile overlay syncs the whole filesystem under its
    upper dir (with every file a run just wrote there, into volumes too)."""
    target = rootfs_dir(svc, c)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        os.mkdir(target)  # made now: nothing is mounted there (no mountinfo scan)
    except FileExistsError:
        if mountinfo.is_mountpoint(target):
            return target
    from hako.daemon import userns

    remap = userns.wanted(svc.config.remap, c.host_config)
    mounts = svc.images.rootfs_mounts(c.id)
    for work in _overlay_workdirs(mounts):
        # a volatile mount's marker, left until removed, refuses every later mount of the
        # layer (a restart): the layer is intact unless the host crashed, and an AutoRemove
        # container is removed, not mounted, at the restore after a host crash
        marker = os.path.join(work, "work", "incompat", "volatile")
        if os.path.lexists(marker):
            shutil.rmtree(marker, ignore_errors=True)
    if remap is not None:
        userns.mount_rootfs(mounts, target, os.path.join(svc.bundle(c), "idmap"), remap)
        return target
    volatile = bool(c.host_config.get("AutoRemove"))
    for m in mounts:
        if volatile and m.type == "overlay" and "volatile" not in m.options:
            try:
                m._replace(options=m.options + ("volatile",)).mount(target)
                continue
            except OSError as exc:  # a kernel before 5.10: a plain mount
                log.info("volatile overlay refused (%s): mounting it plain", exc)
        m.mount(target)
    return target


def _overlay_workdirs(mounts: list[Any]) -> list[str]:
    return [o.partition("=")[2] for m in mounts if m.type == "overlay"
            for o in m.options if o.startswith("workdir=")]


def read_only_view(mounts: list[Any]) -> list[Any]:
    """The snapshot's mounts as a read-only view for reading the image's files at create:
    an overlay of its layers with the (still empty) upper dir as the top lower one and no
    work dir, and binds read-only. Unmounting an overlay with an upper dir syncs the upper
    dir's whole filesystem (and with it a copy-up just written there); this view has none."""
    out = []
    for m in mounts:
        if m.type == "overlay":
            opts = dict(o.partition("=")[::2] for o in m.options)
            lowers = [opts["upperdir"]] if opts.get("upperdir") else []
            lowers += opts.get("lowerdir", "").split(":")
            m = m._replace(options=("ro", "lowerdir=" + ":".join(filter(None, lowers))))
        elif m.is_bind():
            m = m._replace(options=tuple(o for o in m.options if o not in ("rw", "ro")) + ("ro",))
        out.append(m)
    return out


def mount_rootfs_view(svc: Any, c: Container) -> str:
    """Mount a read-only view of the container's snapshot at <bundle>/rootfs for copy-up at
    create (under --userns-remap, the remapped rootfs, whose ids the copy must keep).
    Undone by ``unmount_rootfs``."""
    from hako.daemon import userns
    from hako.linux.mount import mount_all

    if userns.wanted(svc.config.remap, c.host_config) is not None:
        return mount_rootfs(svc, c)
    target = rootfs_dir(svc, c)
    os.makedirs(target, exist_ok=True)
    if not mountinfo.is_mountpoint(target):
        mount_all(read_only_view(svc.images.rootfs_mounts(c.id)), target)
    return target


def unmount_rootfs(svc: Any, c: Container) -> None:
    """Unmount <bundle>/rootfs if mounted (lazy detach if busy), and undo the option mounts
    of volumes no other running container uses."""
    from hako.daemon import mounts
    from hako.linux.mount import unmount_all

    mounts.release_mounts(svc.volumes, c.id, c.mounts)
    # until nothing is mounted there (EINVAL), without a mountinfo scan
    unmount_all(rootfs_dir(svc, c), detach_busy=True)
    if (c.host_config.get("IpcMode") or "") == "shareable":  # its /dev/shm (moby: at stop too)
        unmount_all(shm_path(c), detach_busy=True)
    from hako.daemon import userns

    remap = userns.wanted(svc.config.remap, c.host_config)
    if remap is not None:
        from hako.errors import NotFound

        try:
            userns.unshift_rootfs(svc.images.rootfs_mounts(c.id), remap)
        except NotFound:  # the snapshot is gone with the container
            pass


def _init_path(svc: Any) -> str:
    if svc.config.init_path:
        return svc.config.init_path
    for path in _INIT_CANDIDATES:
        if os.path.exists(path):
            return path
    raise InvalidArgument("--init requested but no init binary (tini-static) is installed")


def make_workdir(rootfs: str, cwd: str) -> None:
    """Create the container's working directory inside ``rootfs`` (as Docker does at start).

    Symlinks on the way are resolved inside the rootfs, so ``WORKDIR /x`` with an image's
    ``/x -> /host/dir`` creates ``<rootfs>/host/dir``, never a host directory.

    The directory is made through descriptors (``hako.support.fsroot``); the runtime
    resolves the working directory inside the container again when it starts.
    """
    from hako.support.fsroot import Root

    with Root(rootfs) as root:
        os.close(root.make(cwd.lstrip("/"), "dir"))


def _with_link_env(env: list[str], linked: list[str]) -> list[str]:
    """moby's CreateDaemonEnvironment: link variables first, the container's own Env
    replacing those of the same name or appended."""
    if not linked:
        return env
    out = list(linked)
    index = {e.partition("=")[0]: i for i, e in enumerate(out)}
    for e in env:
        key = e.partition("=")[0]
        if key in index:
            out[index[key]] = e
        else:
            index[key] = len(out)
            out.append(e)
    return out


_THROTTLES = (("BlkioDeviceReadBps", "throttleReadBpsDevice"),
              ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
              ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
              ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"))


def _joined_namespaces(svc: Any, c: Container) -> dict[str, str]:
    """``PidMode`` / ``IpcMode`` ``container:<name|id>``: the other container's namespace,
    which it must be running to have (moby's getPidContainer and getIpcContainer, with
    their texts).

    Raises:
        NotFound: no such container. Conflict: it is not running.
    """
    out = {}
    for key, kind, what in (("PidMode", "pid", "PID"), ("IpcMode", "ipc", "IPC")):
        mode = c.host_config.get(key) or ""
        if mode.startswith("container:"):
            other = _running_other(svc, mode[len("container:"):], what)
            out[kind] = f"/proc/{other.state.pid}/ns/{kind}"
    return out


def _running_other(svc: Any, ref: str, what: str) -> Container:
    from hako.errors import Conflict, NotFound

    try:
        other = svc.get(ref)
    except NotFound:
        raise NotFound(f"cannot join {what} of a non running container: {ref}: "
                       f"No such container: {ref}") from None
    if not other.state.running or not other.state.pid or other.state.status.value == "restarting":
        raise Conflict(f"container {other.id} is not running")
    return other


def shm_path(c: Container) -> str:
    """Where a shareable container's /dev/shm is mounted on the host (as moby's)."""
    return os.path.join(c.root, "mounts", "shm")


def _shm_source(svc: Any, c: Container) -> str:
    """The host directory bound on /dev/shm: a shareable container's own tmpfs (mounted
    here, sized ShmSize, as moby's setupIPCDirs), or the donor's for ``container:<id>``.

    Raises:
        InvalidArgument: the donor's IPC is not shareable (moby's text).
    """
    mode = c.host_config.get("IpcMode") or ""
    if mode.startswith("container:"):
        ref = mode[len("container:"):]
        other = _running_other(svc, ref, "IPC")
        if (other.host_config.get("IpcMode") or "") == "host":
            return "/dev/shm"
        path = shm_path(other)
        if not os.path.ismount(path):
            raise InvalidArgument(f"cannot join IPC of a non running container: {ref}: non-shareable IPC "
                                  "(hint: use IpcMode:shareable for the donor container)")
        return path
    if mode != "shareable":
        return ""
    from hako.linux import mount as mnt
    from hako.linux import syscalls

    path = shm_path(c)
    os.makedirs(path, mode=0o700, exist_ok=True)
    if not os.path.ismount(path):
        size = int(c.host_config.get("ShmSize") or 64 * 1024 * 1024)
        syscalls.mount("shm", path, "tmpfs", mnt.MS_NOSUID | mnt.MS_NODEV | mnt.MS_NOEXEC,
                       f"mode=1777,size={size}")
    return path


def _swappiness(value: Any) -> int | None:
    """MemorySwappiness: None or -1 leave the kernel's (the parent's) value."""
    return None if value is None or int(value) < 0 else int(value)


def spec_options(svc: Any, c: Container, rootfs: str, netns_path: str | None = None,
                 network_host: bool = False) -> Any:
    """Translate the container record into specgen's typed options."""
    from hako.daemon import users
    from hako.runtime.specgen import SpecOptions

    conf, hc = c.config, c.host_config
    user = users.resolve(rootfs, conf.get("User") or "", hc.get("GroupAdd") or [])
    env = _with_link_env(list(conf.get("Env") or []), c.networking.get("LinkEnv") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.insert(1, f"HOSTNAME={conf.get('Hostname')}")
    if conf.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home or '/'}")
    cwd = conf.get("WorkingDir") or "/"
    make_workdir(rootfs, cwd)
    etc_mounts = [
        {"destination": "/etc/resolv.conf", "type": "bind", "source": c.file("resolv.conf"),
         "options": ["rbind", "rprivate"]},
        {"destination": "/etc/hostname", "type": "bind", "source": c.file("hostname"),
         "options": ["rbind", "rprivate"]},
        {"destination": "/etc/hosts", "type": "bind", "source": c.file("hosts"),
         "options": ["rbind", "rprivate"]},
    ]
    from hako.daemon import mounts

    user_mounts = mounts.oci_mounts(c.mounts)
    taken = {m["destination"] for m in user_mounts}
    etc_mounts = [m for m in etc_mounts if m["destination"] not in taken] + user_mounts
    tmpfs = dict(hc.get("Tmpfs") or {})
    from hako.daemon import systemd_mode

    sd_mounts, sd_tmpfs = systemd_mode.start_options(svc, c, rootfs, taken | set(tmpfs))
    etc_mounts += sd_mounts
    tmpfs = {**sd_tmpfs, **tmpfs}
    rlimits = [(u.get("Name") or "", int(u.get("Soft") or 0), int(u.get("Hard") or 0))
               for u in hc.get("Ulimits") or []]  # Go zero values for missing fields
    from hako.daemon import security

    no_new_privs = security.parse(hc.get("SecurityOpt")).no_new_privileges
    return SpecOptions(
        rootfs=rootfs, args=(c.path, *c.args), env=tuple(env), cwd=cwd, uid=user.uid, gid=user.gid,
        additional_gids=tuple(user.additional_gids), terminal=bool(conf.get("Tty")),
        hostname=conf.get("Hostname") or c.id[:12], domainname=conf.get("Domainname") or "",
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")), privileged=bool(hc.get("Privileged")),
        cap_add=tuple(hc.get("CapAdd") or ()), cap_drop=tuple(hc.get("CapDrop") or ()),
        no_new_privileges=no_new_privs, rlimits=tuple(rlimits),
        memory=int(hc.get("Memory") or 0), memory_swap=int(hc.get("MemorySwap") or 0),
        memory_reservation=int(hc.get("MemoryReservation") or 0),
        memory_swappiness=_swappiness(hc.get("MemorySwappiness")),
        oom_kill_disable=bool(hc.get("OomKillDisable")),
        blkio_weight=int(hc.get("BlkioWeight") or 0),
        blkio_weight_device=tuple((d["Path"], int(d.get("Weight") or 0))
                                  for d in hc.get("BlkioWeightDevice") or []),
        blkio_throttle={key: tuple((d["Path"], int(d.get("Rate") or 0)) for d in hc[name])
                        for name, key in _THROTTLES if hc.get(name)},
        devices=tuple({"path_on_host": d["PathOnHost"], "path_in_container": d.get("PathInContainer") or "",
                       "cgroup_permissions": d.get("CgroupPermissions") or "rwm"}
                      for d in hc.get("Devices") or []),
        device_cgroup_rules=tuple(hc.get("DeviceCgroupRules") or ()),
        cpu_shares=int(hc.get("CpuShares") or 0), cpu_quota=int(hc.get("CpuQuota") or 0),
        cpu_period=int(hc.get("CpuPeriod") or 0), nano_cpus=int(hc.get("NanoCpus") or 0),
        cpuset_cpus=hc.get("CpusetCpus") or "", cpuset_mems=hc.get("CpusetMems") or "",
        pids_limit=hc.get("PidsLimit") if hc.get("PidsLimit") and hc.get("PidsLimit") > 0 else None,
        oom_score_adj=int(hc.get("OomScoreAdj") or 0), cgroups_path=svc.cgroups_path(c),
        netns_path=netns_path, network_host=network_host, extra_mounts=tuple(etc_mounts), tmpfs=tmpfs, sysctls=dict(hc.get("Sysctls") or {}),
        init_path=_init_path(svc) if hc.get("Init") else None,
        shm_size=int(hc.get("ShmSize") or 64 * 1024 * 1024),
        seccomp_profile=security.seccomp_profile(hc),
        cgroupns_private=hc.get("CgroupnsMode") == "private",
        pid_host=hc.get("PidMode") == "host", uts_host=hc.get("UTSMode") == "host",
        join_namespaces=_joined_namespaces(svc, c),
        ipc_host=hc.get("IpcMode") == "host", ipc_none=hc.get("IpcMode") == "none",
        shm_source=_shm_source(svc, c),
        annotations=dict(hc.get("Annotations") or {}),
    )


def start_shim(svc: Any, c: Container, netns_path: str | None = None,
               network_host: bool = False) -> Any:
    """Mount the rootfs, write config.json and spawn the shim (runtime create); the
    container joins the network namespace at ``netns_path`` (or the host's).

    Returns:
        The ShimHandle of the created (not yet started) container.

    Raises:
        RuntimeFailed: the runtime refused; its exit_code is what Docker would record.
    """
    from hako.runtime import shimclient, shims
    from hako.runtime.specgen import build_spec

    from hako.daemon import logconfig

    log_opts = logconfig.writer_options(c)  # bad values fail the start before anything is touched
    if log_opts and c.log_path:
        os.makedirs(os.path.dirname(c.log_path), mode=0o700, exist_ok=True)
    bundle = svc.bundle(c)
    if os.path.isdir(bundle):
        for name in os.listdir(bundle):
            if name != "rootfs":
                path = os.path.join(bundle, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    os.makedirs(bundle, exist_ok=True)
    rootfs = mount_rootfs(svc, c)
    try:
        from hako.daemon import mounts

        mounts.prepare(svc.volumes, c.id, c.mounts, rootfs)
        spec = build_spec(spec_options(svc, c, rootfs, netns_path, network_host))
        _remap(svc, c, spec, rootfs)
        # rewritten at every start, in the exec root (lost at reboot anyway): no fsync
        atomicfile.write_bytes(os.path.join(bundle, "config.json"), json.dumps(spec).encode(), durable=False)
        conf = c.config
        runtime = shimclient.fast_runtime(svc.config.runtime_path(c.runtime),
                                          os.path.join(svc.config.exec_root, "bin"))
        return shims.spawn(
            svc.config.shim, id=c.id, bundle=bundle, state_dir=bundle, runtime=runtime,
            runtime_root=svc.config.runtime_root, log_file=c.log_path, tty=bool(conf.get("Tty")),
            stdin=bool(conf.get("OpenStdin")), stdin_once=bool(conf.get("StdinOnce")),
            log_opts=log_opts)
    except BaseException:
        unmount_rootfs(svc, c)
        raise


def running_ids(svc: Any, c: Container):
    """--userns-remap: while ``c`` runs, its upper dir holds host ids; the map that gives the
    container's back to what commit and export write (None when nothing is shifted)."""
    from hako.daemon import userns

    remap = userns.wanted(svc.config.remap, c.host_config)
    return userns.container_ids(remap) if remap is not None and c.state.running else None


def reshift_rootfs(svc: Any, c: Container) -> None:
    """--userns-remap: after a ``cp`` into a running container, give what it wrote to the
    upper dir (container ids) the remapped ids its running container's upper holds."""
    from hako.daemon import userns

    remap = userns.wanted(svc.config.remap, c.host_config)
    if remap is not None:
        userns.shift_rootfs(svc.images.rootfs_mounts(c.id), remap)


def _remap(svc: Any, c: Container, spec: dict, rootfs: str) -> None:
    """--userns-remap: the spec's user namespace, the idmapped rootfs, remapped root's files."""
    from hako.daemon import userns

    remap = userns.wanted(svc.config.remap, c.host_config)
    if remap is not None:
        userns.apply_spec(spec, remap)
        userns.prepare_container(svc, c, rootfs, remap)


def load_shim(svc: Any, c: Container) -> Any:
    """The handle of the container's live shim (hako's or conmon), or None."""
    from hako.runtime import shims

    return shims.load(svc.bundle(c))


def stop_stale_shim(svc: Any, c: Container, timeout: float = 10.0) -> None:
    """Stop a shim the record does not know about: the daemon was killed during a start,
    after the shim created the container but before the record said running. The shim
    kills the container, runs ``runtime delete`` and exits; the rootfs is unmounted.
    """
    import select
    import signal

    handle = load_shim(svc, c)
    if handle is None:
        if delete_runtime_leftover(svc, c):  # a start was cut short after its mount
            unmount_rootfs(svc, c)
        return
    log.info("stopping the shim of %s, whose start never completed", c.id[:12])
    try:
        fd = handle.pidfd()
    except ProcessLookupError:
        fd = None
    try:
        try:
            handle.kill(signal.SIGKILL)
        except Exception as exc:  # noqa: BLE001 - fall back to the pids it recorded
            log.warning("shim of %s refused kill (%s): killing its init", c.id[:12], exc)
            _kill_pid(handle.pid)
        if fd is not None and not select.select([fd], [], [], timeout)[0]:
            log.warning("shim of %s did not exit; killing it", c.id[:12])
            _kill_pid(handle.shim_pid)
    finally:
        if fd is not None:
            os.close(fd)
    delete_runtime_leftover(svc, c)
    unmount_rootfs(svc, c)


def delete_runtime_leftover(svc: Any, c: Container) -> bool:
    """``runtime delete --force`` a container the runtime still holds (its state directory
    under the runtime root) while no shim runs it: the daemon was killed between the
    runtime's create and the shim's record (conmon's state file comes after the create), or
    the shim could not report its create to a daemon that was gone, so nothing else will
    delete it, and the next start would fail with "container with id exists". Only a look
    at one directory when there is nothing to do.

    Returns:
        Whether the runtime held such a container (a delete was tried).
    """
    import subprocess

    if not os.path.isdir(os.path.join(svc.config.runtime_root, c.id)):
        return False
    log.info("deleting the runtime's leftover state of %s", c.id[:12])
    try:
        res = subprocess.run([svc.config.runtime_path(c.runtime), "--root",
                              svc.config.runtime_root, "delete", "--force", c.id],
                             capture_output=True, timeout=60)
    except Exception as exc:  # noqa: BLE001 - an unknown runtime now, a hung one: say so
        log.warning("runtime delete of %s failed: %s", c.id[:12], exc)
        return True
    if res.returncode != 0:
        log.warning("runtime delete of %s failed: %s", c.id[:12],
                    res.stderr.decode(errors="replace").strip())
    return True


def _kill_pid(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def read_exit_status(svc: Any, c: Container) -> dict | None:
    """The exit record the container's shim (hako's or conmon) left, or None."""
    from hako.runtime import shims

    return shims.read_exit_status(svc.bundle(c))

