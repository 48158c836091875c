"""``--userns-remap``: containers' root mapped to a subordinate range, as dockerd.

``resolve`` turns the flag's value (``default``, ``USER[:GROUP]``, ``UID[:GID]``) into the
id maps from ``/etc/subuid`` and ``/etc/subgid`` at daemon start; ``default`` is the user
``hakoremap``, created with a 65536-id range where it is missing (dockerd's ``dockremap``).
Bad input fails the start with the text naming what is missing, before anything is made.

Per container (unless ``HostConfig.UsernsMode`` is ``host``) the spec gets a new user
namespace with those maps; sysfs becomes a read-only bind of the host's ``/sys`` (the
container joins a netns owned by the host's user namespace, where sysfs cannot be mounted:
runc's fallback); the overlay rootfs gets an idmapped mount on top of itself, made here
with a user namespace held by a short-lived helper process (the daemon is threaded: no fork).

Layer: daemon (4). May import: errors, linux, support.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from hako.errors import InvalidArgument

DEFAULT_USER = "hakoremap"
_RANGE_START, _RANGE_SIZE = 100000, 65536


@dataclass(frozen=True)
class Remap:
    """The resolved remapping: ``(containerID, hostID, size)`` triples, root's host ids."""

    user: str
    group: str
    uid_maps: tuple[tuple[int, int, int], ...]
    gid_maps: tuple[tuple[int, int, int], ...]

    @property
    def root_uid(self) -> int:
        return self.uid_maps[0][1]

    @property
    def root_gid(self) -> int:
        return self.gid_maps[0][1]

    def spec_maps(self) -> tuple[list[dict], list[dict]]:
        def oci(maps):
            return [{"containerID": c, "hostID": h, "size": s} for c, h, s in maps]
        return oci(self.uid_maps), oci(self.gid_maps)


def read_ranges(path: str, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """``(start, count)`` of every line of a subuid/subgid file naming one of ``names``."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
                    out.append((int(parts[1]), int(parts[2])))
    except FileNotFoundError:
        pass
    return sorted(out)


def to_maps(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
    """Contiguous container ids from 0 over the ranges, in order (moby's createIDMap)."""
    out, next_id = [], 0
    for start, count in ranges:
        out.append((next_id, start, count))
        next_id += count
    return tuple(out)


def parse(value: str) -> tuple[str, str]:
    """``USER[:GROUP]`` → (user, group); group defaults to user. Raises InvalidArgument."""
    user, _, group = value.partition(":")
    if not user or ":" in group:
        raise InvalidArgument(f"invalid userns-remap value {value!r}: expected USER[:GROUP]")
    return user, group or user


def _lookup(user: str, group: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names and numeric ids under which subuid/subgid may list the user and group."""
    import grp
    import pwd

    try:
        pw = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise InvalidArgument(f'Error during uid lookup for "{user}": user not found') from None
    if group == user:  # no group given: dockerd looks subgid up by the user's name
        return (pw.pw_name, str(pw.pw_uid)), (pw.pw_name, str(pw.pw_uid))
    try:
        gr = grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)
    except KeyError:
        raise InvalidArgument(f'Error during gid lookup for "{group}": group not found') from None
    return (pw.pw_name, str(pw.pw_uid)), (gr.gr_name, str(gr.gr_gid))


def resolve(value: str, etc: str = "/etc") -> Remap:
    """The remapping for the flag's value; ``default`` creates ``hakoremap`` if needed.

    Raises:
        InvalidArgument: unknown user or group, or no subuid/subgid range for it.
    """
    if value == "default":
        ensure_default_user(etc)
        value = DEFAULT_USER
    user, group = parse(value)
    user_names, group_names = _lookup(user, group)
    uids = read_ranges(os.path.join(etc, "subuid"), user_names)
    if not uids:
        raise InvalidArgument(f'no subuid ranges found for user "{user_names[0]}" in {etc}/subuid')
    gids = read_ranges(os.path.join(etc, "subgid"), group_names)
    if not gids:
        raise InvalidArgument(f'no subgid ranges found for group "{group_names[0]}" in {etc}/subgid')
    return Remap(user_names[0], group_names[0], to_maps(uids), to_maps(gids))


def probe_idmap(data_root: str, remap: Remap) -> None:
    """Refuse to start where image layers cannot be idmapped: a detached idmapped clone of
    the data root's filesystem (or its nearest existing parent), closed again at once.

    Raises:
        InvalidArgument: naming the path and the kernel's reason.
    """
    from hako.linux import syscalls

    path = os.path.abspath(data_root)
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    ns_fd = userns_fd(remap)
    try:
        tree = syscalls.open_tree(path, syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC)
        try:
            syscalls.mount_setattr_idmap(tree, ns_fd, False)
        finally:
            os.close(tree)
    except OSError as exc:
        raise InvalidArgument(f"userns-remap: the filesystem of {path} does not support idmapped "
                              f"mounts ({exc.strerror or exc})") from None
    finally:
        os.close(ns_fd)


def _free_start(paths: tuple[str, ...]) -> int:
    """The first range start at or above 100000 overlapping no range of either file."""
    taken = []
    for path in paths:
        try:
            with open(path) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        taken.append((int(parts[1]), int(parts[2])))
        except FileNotFoundError:
            pass
    start = _RANGE_START
    for s, n in sorted(taken):
        if s < start + _RANGE_SIZE and start < s + n:
            start = s + n
    return start


def ensure_default_user(etc: str = "/etc") -> None:
    """dockerd's dockremap: ``useradd -r -s /bin/false``, then one range per file.

    Raises:
        InvalidArgument: the tools failed (their message).
    """
    import pwd

    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        _run(["useradd", "-r", "-s", "/bin/false", DEFAULT_USER])
    names = (DEFAULT_USER, str(pwd.getpwnam(DEFAULT_USER).pw_uid))
    paths = (os.path.join(etc, "subuid"), os.path.join(etc, "subgid"))
    for flag, path in (("-v", paths[0]), ("-w", paths[1])):
        if not read_ranges(path, names):
            start = _free_start(paths)
            _run(["usermod", flag, f"{start}-{start + _RANGE_SIZE - 1}", DEFAULT_USER])


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise InvalidArgument(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")


# ------------------------------------------------------------------ per container

def wanted(remap: Remap | None, host_config: dict) -> Remap | None:
    """The remapping a container gets: none with ``UsernsMode: host``."""
    if remap is None or (host_config.get("UsernsMode") or "") == "host":
        return None
    return remap


def check_create(remap: Remap | None, host_config: dict) -> None:
    """moby's conflicts of a remapped container with host namespaces and privileged mode.

    Raises:
        InvalidArgument: Docker's texts.
    """
    if wanted(remap, host_config) is None:
        return
    if host_config.get("Privileged"):
        raise InvalidArgument("privileged mode is incompatible with user namespaces.  You must run "
                              "the container in the host namespace when running privileged mode")
    if host_config.get("NetworkMode") == "host":
        raise InvalidArgument("cannot share the host's network namespace when user namespaces are enabled")
    if host_config.get("PidMode") == "host":
        raise InvalidArgument("cannot share the host PID namespace when user namespaces are enabled")


def apply_spec(spec: dict, remap: Remap) -> None:
    """A new user namespace with the maps; sysfs as a read-only rbind of the host's /sys."""
    linux = spec["linux"]
    linux["namespaces"] = [{"type": "user"}] + [n for n in linux["namespaces"] if n["type"] != "user"]
    linux["uidMappings"], linux["gidMappings"] = remap.spec_maps()
    for m in spec["mounts"]:
        if m.get("type") == "sysfs":
            m.update(type="bind", source="/sys",
                     options=["rbind", "nosuid", "noexec", "nodev", "ro"])


_HELPER = ("import ctypes,sys; ctypes.CDLL(None, use_errno=True).unshare(0x10000000) == 0 "
           "and (sys.stdout.write('1'), sys.stdout.flush(), sys.stdin.read())")


def userns_fd(remap: Remap) -> int:
    """A descriptor of a user namespace with the remap's maps, held by a helper process
    (spawned, not forked: the daemon is threaded) that exits once we have it.

    Raises:
        OSError: the helper could not unshare, or the maps were refused.
    """
    helper = subprocess.Popen([sys.executable, "-S", "-c", _HELPER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        if helper.stdout.read(1) != b"1":
            raise OSError("the user namespace helper failed to unshare")
        for name, maps in (("uid_map", remap.uid_maps), ("gid_map", remap.gid_maps)):
            with open(f"/proc/{helper.pid}/{name}", "wb", buffering=0) as f:
                f.write("".join(f"{c} {h} {s}\n" for c, h, s in maps).encode())
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        helper.stdin.close()
        helper.stdout.close()
        helper.wait()


def _idmapped(path: str, stage: str, ns_fd: int) -> str:
    """An idmapped view of directory ``path`` attached at ``stage`` (made here)."""
    from hako.linux import syscalls

    os.makedirs(stage, mode=0o700, exist_ok=True)
    tree = syscalls.open_tree(path, syscalls.OPEN_TREE_CLONE | syscalls.OPEN_TREE_CLOEXEC)
    try:
        syscalls.mount_setattr_idmap(tree, ns_fd, False)
        target = os.open(stage, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            syscalls.move_mount_fd(tree, target)
        finally:
            os.close(target)
    finally:
        os.close(tree)
    return stage


def shift_tree(top: str, remap: Remap, back: bool = False) -> None:
    """lchown every entry of ``top`` whose ids are still unshifted (container ids) to the
    host ids of the maps, or with ``back`` the other way; idempotent."""
    move = _unshift if back else _shift

    def shift(path: str) -> None:
        st = os.lstat(path)
        uid, gid = move(st.st_uid, remap.uid_maps), move(st.st_gid, remap.gid_maps)
        if (uid, gid) != (st.st_uid, st.st_gid):
            os.lchown(path, uid, gid)
            if not os.path.islink(path) and st.st_mode & 0o6000:
                os.chmod(path, st.st_mode & 0o7777)  # chown clears setuid/setgid
    if not os.path.isdir(top):
        return
    shift(top)
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            shift(os.path.join(root, name))


def _shift(host_id: int, maps: tuple) -> int:
    if any(h <= host_id < h + n for _, h, n in maps):
        return host_id
    for c, h, n in maps:
        if c <= host_id < c + n:
            return h + host_id - c
    return host_id


def _unshift(host_id: int, maps: tuple) -> int:
    for c, h, n in maps:
        if h <= host_id < h + n:
            return c + host_id - h
    return host_id


def container_ids(remap: Remap):
    """(uid, gid) on disk -> the container's: what a running container's shifted upper dir
    holds, as commit and export record it (Docker's archives map ids back likewise)."""
    def ids(uid: int, gid: int) -> tuple[int, int]:
        return _unshift(uid, remap.uid_maps), _unshift(gid, remap.gid_maps)
    return ids


def unshift_rootfs(mounts: list, remap: Remap) -> None:
    """Give the stopped container's upper dir its container ids back, so a commit, a build
    step's layer, ``cp`` and ``diff`` see what the container saw (Docker's layers are
    likewise unshifted on export)."""
    shift_rootfs(mounts, remap, back=True)


def shift_rootfs(mounts: list, remap: Remap, back: bool = False) -> None:
    """``shift_tree`` on the snapshot's overlay upper dir."""
    for m in mounts:
        for opt in m.options if m.type == "overlay" else ():
            if opt.startswith("upperdir="):
                shift_tree(opt.partition("=")[2], remap, back=back)


def mount_rootfs(mounts: list, target: str, stage_dir: str, remap: Remap) -> None:
    """Mount the snapshot at ``target`` over idmapped layers: overlay refuses to be idmapped
    itself, so each lower dir is an idmapped mount (under ``stage_dir``, detached again once
    overlay holds its private clones of them); the container's own upper dir cannot be (the
    kernel makes overlay's work dir as the mounter, host root, unmapped there), so its ids
    are shifted on disk instead (``shift_tree``), as a remapped dockerd's layers are.

    Raises:
        InvalidArgument: the kernel or a filesystem refuses idmapped mounts (its reason).
    """
    from hako.linux import mount as mnt

    ns_fd = userns_fd(remap)
    staged: list[str] = []

    def stage(path: str) -> str:
        staged.append(_idmapped(path, os.path.join(stage_dir, str(len(staged))), ns_fd))
        return staged[-1]
    try:
        for m in mounts:
            if m.type != "overlay":
                _idmapped(m.source, target, ns_fd)  # a single-layer bind snapshot
                continue
            opts = dict(o.partition("=")[::2] for o in m.options)
            shift_tree(opts["upperdir"], remap)  # overlay's own work dir needs host ids
            opts["lowerdir"] = ":".join(stage(d) for d in opts["lowerdir"].split(":"))
            mnt.Mount("overlay", "overlay", target,
                      tuple(k + ("=" + v if v else "") for k, v in opts.items())).mount()
    except OSError as exc:
        raise InvalidArgument(f"userns-remap: idmapped mount of the rootfs layers refused: "
                              f"{exc.strerror or exc}") from None
    finally:
        os.close(ns_fd)
        from hako.linux.mount import unmount

        for path in staged:
            unmount(path, 2)
        shutil.rmtree(stage_dir, ignore_errors=True)


def prepare_container(svc, c, rootfs: str, remap: Remap) -> None:
    """Remapped root owns the files the daemon writes for the
    container (hosts, hostname, resolv.conf) and the top of its named volumes, as Docker's
    volumes under a remapped data root (bind mounts are left as they are)."""
    bundle = svc.bundle(c)
    files = os.path.dirname(c.file("hosts"))
    for path in (svc.config.exec_root, os.path.dirname(bundle), bundle,
                 svc.config.data_root, os.path.dirname(files), files):
        mode = os.stat(path).st_mode & 0o7777  # search only, as dockerd's 0711 roots
        if mode & 0o011 != 0o011:
            os.chmod(path, mode | 0o011)
    for name in ("resolv.conf", "hostname", "hosts"):
        path = c.file(name)
        if os.path.exists(path):
            os.chown(path, remap.root_uid, remap.root_gid)
    for mp in c.mounts or []:
        if mp.get("Type") == "volume" and mp.get("Source"):
            st = os.stat(mp["Source"])
            if (st.st_uid, st.st_gid) == (0, 0):
                os.chown(mp["Source"], remap.root_uid, remap.root_gid)


def info_options(remap: Remap | None) -> list[str]:
    return ["name=userns"] if remap is not None else []
