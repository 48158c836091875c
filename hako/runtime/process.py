"""Parent side: fork the init (or an exec'd process), put it in its cgroup, wait for READY.

Layer: runtime (3). May import: errors, support, linux, runtime siblings.

The CLI process is itself a fresh single-threaded helper (never the daemon), so it may
fork and run Python in the child (``init.py``). The pid namespace is entered here, in the
parent, just before fork: unshare/setns of CLONE_NEWPID only affect children, so the
forked child is pid 1 of the new namespace (or a member of the joined one).
"""

from __future__ import annotations

import os

from hako.errors import Internal, InvalidArgument, RuntimeFailed
from hako.runtime.container import Container, Status, new_state_dir, rfc3339_nano

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc costs ms on every runtime command; annotations only
    from collections.abc import Callable

READY_TIMEOUT = 60.0


class CreateOptions:
    """Flags of `create` / `run` (a plain class: typing costs ms on every command)."""

    def __init__(self, root: str, container_id: str, bundle: str, pid_file: str = "",
                 console_socket: str = "", no_pivot: bool = False) -> None:
        self.root, self.container_id, self.bundle = root, container_id, bundle
        self.pid_file, self.console_socket, self.no_pivot = pid_file, console_socket, no_pivot


def cgroup_manager(cgroups_path: str, container_id: str, log: Callable[[str], None]):
    """The CgroupManager for a container (never None: a container runs in its cgroup or not
    at all, so a missing cgroups package is an error, not a reason to skip limits).

    Raises:
        RuntimeFailed: the cgroups package cannot be imported.
    """
    try:
        from hako.runtime.cgroups.detect import new_manager
    except ImportError as exc:
        raise RuntimeFailed(f"cgroups unavailable ({exc}): refusing to run without them") from exc
    return new_manager(cgroups_path or "/" + container_id, container_id)


def connect_console(path: str):
    """Connect to a --console-socket.

    Returns:
        The connected socket.
    Raises:
        InvalidArgument: it cannot be reached.
    """
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"failed to connect to console socket {path}: "
                              f"{exc.strerror}") from None
    return sock


def write_pid_file(path: str, pid: int) -> None:
    """Write ``pid`` to ``path`` atomically (no newline, like runc)."""
    if path:
        from hako.runtime.container import write_atomic

        write_atomic(os.path.abspath(path), str(pid).encode())


def _spawn(ctx, child_main: Callable) -> int:
    from hako.runtime import sync

    parent_sock, child_sock = sync.socketpair()
    ctx.sock = child_sock
    pid = os.fork()
    if pid == 0:
        try:
            parent_sock.close()
            child_main(ctx)
        except BaseException as exc:  # noqa: BLE001 - a bug in the child: show it, stop
            os.write(2, f"hako-runtime: init failed: {exc!r}\n".encode())
        finally:
            os._exit(1)
    child_sock.close()
    ctx.sock = parent_sock
    return pid


def _join_before_userns(ctx) -> None:
    """As runc's nsexec: namespaces joined by path (a netns the daemon made, owned by the
    host's user namespace) are entered before the new user namespace is created, while we
    still hold the host's capabilities over them; the init then skips them."""
    from hako.runtime.namespaces import enter

    for kind in ("ipc", "uts", "network"):
        entry = ctx.namespaces.get(kind)
        if entry is not None and entry.path:
            enter(entry)
            ctx.namespaces = {k: v for k, v in ctx.namespaces.items() if k != kind}


def _spawn_in_userns(ctx, child_main: Callable, ns: dict, spec: dict) -> int:
    """Two stages, as runc's nsexec: a first child enters the user namespace (a new one
    gets its uid/gid maps written by us, from outside), becomes root in it, enters the pid
    namespace and forks the init, reports the init's pid and exits. We are made a child
    subreaper so the init is reparented to us (``run`` waits for it).

    Returns:
        The init's pid.
    Raises:
        RuntimeFailed: a stage failed (its text), or the maps could not be written.
    """
    from hako.linux import syscalls
    from hako.runtime import sync
    from hako.runtime.namespaces import enter

    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    user = ns["user"]

    def stage1(ctx) -> None:
        from hako.runtime.init import preload

        try:
            preload(ctx)  # the mapped root may not read the host's Python files
            if not user.path:
                _join_before_userns(ctx)
            enter(user)
            if not user.path:
                sync.send(ctx.sock, "userns")
                sync.expect(ctx.sock, "mapped")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            if "pid" in ns:
                enter(ns["pid"])
        except Exception as exc:  # noqa: BLE001 - reported to the parent, never raised
            sync.send(ctx.sock, sync.ERROR, message=f"user namespace: {exc}")
            os._exit(1)
        init = os.fork()
        if init == 0:
            child_main(ctx)
            os._exit(1)
        sync.send(ctx.sock, "init", pid=init)
        os._exit(0)

    first = _spawn(ctx, stage1)
    try:
        msg = sync.recv(ctx.sock, READY_TIMEOUT)
        if msg["type"] == "userns":
            from hako.linux import idmaps

            linux = spec.get("linux") or {}
            idmaps.write(first, *([(m["containerID"], m["hostID"], m["size"]) for m in linux[key]]
                                  for key in ("uidMappings", "gidMappings")))
            sync.send(ctx.sock, "mapped")
            msg = sync.recv(ctx.sock, READY_TIMEOUT)
        if msg["type"] == sync.ERROR:
            raise RuntimeFailed(str(msg.get("message")))
        if msg["type"] != "init":
            raise RuntimeFailed(f"unexpected sync message {msg['type']!r}")
        return int(msg["pid"])
    except (sync.SyncError, TimeoutError, OSError, InvalidArgument) as exc:
        _kill_and_reap(first)
        raise RuntimeFailed(f"unable to start container process: {exc}") from exc
    finally:
        try:
            os.waitpid(first, 0)
        except ChildProcessError:
            pass


def prepare_seccomp(ctx, spec: dict, process: dict, root: str) -> None:
    """Compile the container's filter for the child, or take it from the cache
    ``<root>/@seccomp/`` (a name no container id can have).

    Raises:
        InvalidArgument, Internal: the profile cannot be compiled (the container never
        runs without the filter its spec asks for).
    """
    profile = (spec.get("linux") or {}).get("seccomp")
    if profile is None:
        return
    from hako.runtime import seccomp

    caps = (process.get("capabilities") or {}).get("bounding") or []
    prog = seccomp.cached_bpf(profile, caps, os.path.join(root, "@seccomp"))
    ctx.seccomp = seccomp.prepare_load(prog)


def _handshake(ctx, pid: int, mgr, resources: dict | None, c: Container | None = None) -> None:
    """Apply the cgroup, send GO, run the parent's hooks when the child asks, wait for
    READY. Raises RuntimeFailed with the child's (or a hook's) text."""
    from hako.runtime import sync

    try:
        if mgr is not None:
            mgr.apply(pid)
            if resources:
                mgr.set(resources)
        sync.send(ctx.sock, sync.GO)
        msg = sync.recv(ctx.sock, READY_TIMEOUT)
        if msg["type"] == sync.HOOKS and c is not None:
            from hako.runtime import hooks

            doc = {"ociVersion": c.config.get("ociVersion") or hooks.OCI_VERSION, "id": c.id,
                   "pid": pid, "bundle": c.bundle}
            if c.config.get("annotations"):
                doc["annotations"] = c.config["annotations"]
            state = hooks.state(c.config, c.id, "creating", pid, c.bundle)
            for stage in hooks.PARENT_STAGES:
                hooks.run_stage(c.config, stage, state)
            sync.send(ctx.sock, sync.RESUME, state=doc)
            msg = sync.recv(ctx.sock, READY_TIMEOUT)
        if msg["type"] == sync.ERROR:
            raise sync.SyncError(str(msg.get("message", "unknown error")))
        if msg["type"] != sync.READY:
            raise sync.SyncError(f"expected sync message 'ready', got {msg['type']!r}")
    except (sync.SyncError, TimeoutError, OSError) as exc:
        raise RuntimeFailed(f"unable to start container process: {exc}") from exc
    finally:
        ctx.sock.close()


def _kill_and_reap(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def create(opts: CreateOptions, log: Callable[[str], None]) -> tuple[Container, int]:
    """Set up a container and leave its init blocked on exec.fifo.

    Returns:
        (the saved Container, the init pid — our child until we exit).
    Raises:
        InvalidArgument, AlreadyExists, Unsupported: bad spec or id.
        RuntimeFailed: setup failed in the child or in the cgroup (nothing is left behind).
    """
    from hako.linux import proc
    from hako.runtime import idmap, validate
    from hako.runtime.init import InitContext

    bundle = os.path.abspath(opts.bundle)
    spec = validate.load_spec(bundle)
    ns = validate.validate_spec(spec, opts.console_socket or None)
    rootfs = validate.rootfs_path(spec, bundle)
    state_dir = new_state_dir(opts.root, opts.container_id)
    c = Container(opts.container_id, state_dir, bundle, rootfs, created=rfc3339_nano(),
                  cgroups_path=(spec.get("linux") or {}).get("cgroupsPath") or "",
                  config=spec)
    mgr = pid = ctx = None
    try:
        os.mkfifo(c.fifo_path, 0o622)
        os.chmod(c.fifo_path, 0o622)  # past the umask: the init may reopen it as non-root
        ctx = InitContext(spec, spec["process"], None, rootfs, bundle, ns, log=log,
                          fifo_fd=os.open(c.fifo_path, os.O_PATH | os.O_CLOEXEC),
                          no_pivot=opts.no_pivot)
        prepare_seccomp(ctx, spec, spec["process"], opts.root)
        if any(idmap.wanted(m) for m in spec.get("mounts") or []):  # before any namespace
            ctx.idmap_fds = idmap.prepare(spec.get("mounts") or [], bundle)
        if opts.console_socket:
            ctx.console = connect_console(opts.console_socket)
        mgr = cgroup_manager(c.cgroups_path, c.id, log)
        if "mount" not in ns:  # its mounts are made in ours: find them to undo them
            from hako.runtime import hostns

            before = {mid for mid, _ in hostns.mounts_under(rootfs)}
        pid = _spawn_init(ctx, ns, spec)
        c.pid, c.start_time = pid, proc.start_time(pid) or 0
        from hako.runtime.devices import with_default_rules

        try:
            _handshake(ctx, pid, mgr,
                       with_default_rules((spec.get("linux") or {}).get("resources")), c)
        finally:
            if "mount" not in ns:
                c.host_mounts = hostns.new_mounts(rootfs, before)
        os.close(ctx.fifo_fd)
        idmap.close(ctx.idmap_fds)
        if ctx.console is not None:
            ctx.console.close()
        c.status = Status.CREATED
        c.save()
        write_pid_file(opts.pid_file, pid)
    except BaseException:
        if pid:
            _kill_and_reap(pid)
        if ctx is not None:
            idmap.close(ctx.idmap_fds)
        _cleanup_cgroup(mgr, log)
        from hako.runtime.container import remove_state

        remove_state(c)
        raise
    return c, pid


def _spawn_init(ctx, ns: dict, spec: dict) -> int:
    """Fork the container's init into its namespaces (through a user namespace when one is
    asked; the pid namespace is entered here, as only children land in it)."""
    from hako.runtime.init import run_init

    if "user" in ns:
        return _spawn_in_userns(ctx, run_init, ns, spec)
    if "pid" in ns:
        from hako.runtime.namespaces import enter

        enter(ns["pid"])
    return _spawn(ctx, run_init)


def _cleanup_cgroup(mgr, log: Callable[[str], None]) -> None:
    if mgr is None:
        return
    try:
        mgr.destroy()
    except Exception as exc:  # noqa: BLE001 - cleanup after a failure: report, keep going
        log(f"cgroup cleanup failed: {exc}")


def start(c: Container, warn: Callable[[str], None] | None = None) -> None:
    """Release a created container's init from exec.fifo, then run poststart hooks (their
    failures go to ``warn``: the spec says the lifecycle goes on).

    Raises:
        Conflict: not in the created state.
        RuntimeFailed: the init died before it could be released.
    """
    from hako.errors import Conflict

    status = c.current_status()
    if status == Status.STOPPED:
        raise Conflict("cannot start a container that has stopped")
    if status != Status.CREATED:
        raise Conflict("cannot start an already running container")
    c.transition(Status.RUNNING)
    try:  # before the fifo opens: a fast init may be released, exit and be reaped at once
        pidfd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        raise RuntimeFailed("cannot start a container that has stopped") from None
    try:
        fd = os.open(c.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            _wait_fifo(fd, pidfd)
        finally:
            os.close(fd)
    finally:
        os.close(pidfd)
    try:
        # state.json keeps "created": with the fifo gone and the init alive the status reads
        # "running" (current_status), so the start path makes no second state file
        os.unlink(c.fifo_path)
    except FileNotFoundError:
        # Released: the init ran, exited, and its monitor already ran `delete` (conmon runs
        # it as soon as the init exits, while this start may still be finishing).
        return
    if c.config.get("hooks"):
        from hako.runtime import hooks

        hooks.run_stage_logged(c.config, "poststart",
                               hooks.state(c.config, c.id, "running", c.pid, c.bundle),
                               warn or stderr_warning)


def stderr_warning(msg: str) -> None:
    import sys

    sys.stderr.write(f"hako-runtime: warning: {msg}\n")


def _wait_fifo(fd: int, pidfd: int) -> None:
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    while True:
        events = dict(poller.poll(READY_TIMEOUT * 1000))
        if not events:
            raise RuntimeFailed("timed out waiting for the container init")
        if fd in events and os.read(fd, 1) == b"0":
            return
        if pidfd in events:
            raise RuntimeFailed("cannot start a container that has stopped")


def forward_signals(pid: int) -> None:
    """Forward the usual terminating signals we receive to ``pid`` (for run/exec)."""
    import signal

    def handler(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"):
        signal.signal(getattr(signal, name), handler)


def wait_exit_code(pid: int) -> int:
    """Wait for our child ``pid``; return its exit status (128+n if killed by signal n)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            raise Internal(f"process {pid} is not our child") from None
        return os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) \
            else 128 + os.WTERMSIG(status)


class ExecOptions:
    """Flags of `exec`."""

    def __init__(self, root: str, container_id: str, args: tuple[str, ...] = (),
                 process_file: str = "", detach: bool = False, pid_file: str = "",
                 tty: bool = False, console_socket: str = "", cwd: str = "",
                 env: tuple[str, ...] = (), user: str = "") -> None:
        self.root, self.container_id, self.args = root, container_id, args
        self.process_file, self.detach, self.pid_file = process_file, detach, pid_file
        self.tty, self.console_socket, self.cwd = tty, console_socket, cwd
        self.env, self.user = env, user


def build_exec_process(c: Container, opts: ExecOptions) -> dict:
    """The process to exec: --process FILE, or the container's process with overrides.

    Raises:
        InvalidArgument: bad --process file, no args, bad --user.
    """
    import json

    from hako.runtime.user import parse_user_flag
    from hako.runtime.validate import validate_process

    if opts.process_file:
        try:
            with open(opts.process_file, "rb") as f:
                process = json.loads(f.read())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read process file {opts.process_file}: {exc}") \
                from None
    else:
        process = dict(c.config.get("process") or {})
        process["args"] = list(opts.args)
        process["terminal"] = opts.tty
        process["env"] = list(process.get("env") or []) + list(opts.env)
        if opts.cwd:
            process["cwd"] = opts.cwd
        if opts.user:
            process["user"] = parse_user_flag(opts.user)
        process.pop("consoleSize", None)
    validate_process(process)
    if process.get("terminal") and not opts.console_socket:
        raise InvalidArgument("cannot allocate tty if hako-runtime will detach without "
                              "setting console socket")
    return process


def _open_ns_fds(c: Container) -> dict[str, int]:
    from hako.runtime.namespaces import KINDS

    fds = {}
    for entry in (c.config.get("linux") or {}).get("namespaces") or []:
        kind = entry.get("type")
        if kind in KINDS:
            fds[kind] = os.open(f"/proc/{c.pid}/ns/{KINDS[kind][1]}", os.O_RDONLY | os.O_CLOEXEC)
    return fds


def exec_process(opts: ExecOptions, log: Callable[[str], None]) -> int:
    """Run a new process inside a created or running container.

    Returns:
        0 with --detach (the pid file is written), else the process's exit code.
    Raises:
        ContainerNotFound, Conflict, InvalidArgument, RuntimeFailed.
    """
    from hako.errors import Conflict
    from hako.linux import syscalls
    from hako.runtime.container import load
    from hako.runtime.init import InitContext, run_exec

    c = load(opts.root, opts.container_id)
    status = c.current_status()
    if status not in (Status.CREATED, Status.RUNNING):
        raise Conflict(f"cannot exec in a {status.value} container")
    process = build_exec_process(c, opts)
    ns_fds = _open_ns_fds(c)
    ctx = InitContext(c.config, process, None, ns_fds=ns_fds, log=log)
    if "mount" not in ns_fds:  # no mount namespace to join: its root is the init's chroot
        ctx.root_fd = os.open(f"/proc/{c.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        prepare_seccomp(ctx, c.config, process, opts.root)
    except BaseException:
        for fd in [*ns_fds.values(), ctx.root_fd]:
            if fd >= 0:
                os.close(fd)
        raise
    if opts.console_socket:
        ctx.console = connect_console(opts.console_socket)
    if "pid" in ns_fds:
        syscalls.setns(ns_fds.pop("pid"), syscalls.CLONE_NEWPID)
    pid = _spawn(ctx, run_exec)
    for fd in [*ns_fds.values(), ctx.root_fd]:
        if fd >= 0:
            os.close(fd)
    if ctx.console is not None:
        ctx.console.close()
    try:
        _handshake(ctx, pid, cgroup_manager(c.cgroups_path, c.id, log), None)
    except BaseException:
        _kill_and_reap(pid)
        raise
    write_pid_file(opts.pid_file, pid)
    if opts.detach:
        return 0
    forward_signals(pid)
    return wait_exit_code(pid)
