"""Child side: the container's init (or an exec'd process) between fork and execve.

Layer: runtime (3). May import: errors, linux, runtime siblings.

Runs in the single-threaded process forked by ``process.py``. ``run_init`` and
``run_exec`` perform ordered named steps, each one function; any exception is sent to the
parent as a sync ERROR and the child exits 1 without execve (fail closed). Create::

    wait_for_go → enter_namespaces → setup_network → setup_rootfs (propagation, bind,
    mounts, devices) → hooks (HOOKS/RESUME with the parent, createContainer) → pivot_root
    (chroot without a mount namespace) → setup_console → set_hostname → apply_sysctls →
    readonly_paths → masked_paths → create_cwd → readonly_root → check_proc →
    set_oom_score → apply_rlimits → set_no_new_privs → enter_cwd → [load_seccomp without
    NNP] → switch_user → apply_capabilities → resolve_executable → [load_seccomp with NNP]
    → READY → wait_exec_fifo →
    [startContainer hooks] → execve
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable

from hako.runtime import sync
from hako.runtime.user import ExecError

_RESTORE_SIGNALS = ("SIGPIPE", "SIGXFSZ", "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT",
                    "SIGUSR1", "SIGUSR2", "SIGCHLD")


class InitContext:
    """Everything the child needs; built by the parent before fork (a plain class: the
    dataclasses import costs milliseconds of container start)."""

    def __init__(self, spec: dict, process: dict, sock: socket.socket | None,
                 rootfs: str = "", bundle: str = "", namespaces: dict | None = None,
                 ns_fds: dict | None = None, fifo_fd: int = -1,
                 console: socket.socket | None = None, no_pivot: bool = False,
                 log: Callable[[str], None] = lambda msg: None) -> None:
        self.spec, self.process, self.sock = spec, process, sock
        self.rootfs, self.bundle, self.no_pivot = rootfs, bundle, no_pivot
        self.namespaces = namespaces or {}
        self.ns_fds = ns_fds or {}
        self.fifo_fd, self.console, self.log = fifo_fd, console, log
        self.executable = ""
        self.seccomp = None  # seccomp.prepare_load() of the compiled filter, made by the parent
        self.hook_state = None  # the state document of hooks, sent by the parent
        self.idmap_fds: dict[int, int] = {}  # spec mount index → detached idmapped mount (idmap.py)
        self.root_fd = -1  # exec into a container without a mount namespace: its root


class StepError(Exception):
    """A named setup step failed; the text is what create/exec prints."""


def _step(name: str, fn: Callable[[InitContext], None], ctx: InitContext) -> None:
    try:
        fn(ctx)
    except StepError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is reported, fail closed
        if isinstance(exc, ExecError):
            raise StepError(str(exc)) from exc
        raise StepError(f"{name}: {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    """Readable text of an exception: ``what: strerror`` for OSError."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


def _run_steps(ctx: InitContext, steps: list) -> None:
    try:
        for name, fn in steps:
            _step(name, fn, ctx)
            ctx.log(f"init: {name} done")
    except StepError as exc:
        try:
            sync.send(ctx.sock, sync.ERROR, message=str(exc))
        finally:
            os._exit(1)


def wait_for_go(ctx: InitContext) -> None:
    sync.expect(ctx.sock, sync.GO)


def enter_namespaces(ctx: InitContext) -> None:
    from hako.runtime import namespaces

    os.setsid()
    namespaces.enter_in_order(ctx.namespaces, namespaces.CHILD_ORDER)


def setup_network(ctx: InitContext) -> None:
    ns = ctx.namespaces.get("network")
    if ns is not None and not ns.path:
        from hako.runtime.namespaces import bring_up_loopback

        bring_up_loopback()


def setup_rootfs(ctx: InitContext) -> None:
    from hako.runtime import devices, rootfs

    linux = ctx.spec.get("linux") or {}
    if "mount" in ctx.namespaces:  # else the host's "/": never touched (hostns.py)
        prop = linux.get("rootfsPropagation", "")
        # binding from an unbindable "/" fails (runc fails there): it goes on the bind
        late = prop if prop in ("unbindable", "runbindable") else ""
        rootfs.set_propagation("" if late else prop)
        rootfs.bind_rootfs(ctx.rootfs)
        if late:
            rootfs.set_propagation(late, ctx.rootfs)
    cgroupns = "cgroup" in ctx.namespaces
    for i, entry in enumerate(ctx.spec.get("mounts") or []):
        try:
            rootfs.mount_one(ctx.rootfs, ctx.bundle, entry, cgroupns, ctx.idmap_fds.get(i, -1))
        except OSError as exc:
            raise StepError(f'error mounting "{entry.get("source", "")}" to rootfs at '
                            f'"{entry.get("destination", "")}": {describe(exc)}') from exc
    devices.create_all(ctx.rootfs, devices.parse(linux.get("devices") or []))
    devices.create_symlinks(ctx.rootfs)


def pivot_root(ctx: InitContext) -> None:
    from hako.runtime import rootfs

    if "mount" not in ctx.namespaces:  # runc's chroot(): pivot_root would move the host's
        rootfs.chroot(ctx.rootfs)
    elif ctx.no_pivot:
        rootfs.move_root(ctx.rootfs)
    else:
        rootfs.pivot(ctx.rootfs)


def setup_console(ctx: InitContext) -> None:
    if not ctx.process.get("terminal"):
        return
    from hako.runtime.devices import setup_console as make_pty

    make_pty(ctx.console, ctx.process.get("consoleSize"), bind_console=ctx.fifo_fd >= 0)
    ctx.console.close()


def set_hostname(ctx: InitContext) -> None:
    from hako.linux import syscalls

    if ctx.spec.get("hostname"):
        syscalls.sethostname(ctx.spec["hostname"])
    if ctx.spec.get("domainname"):
        syscalls.setdomainname(ctx.spec["domainname"])


def apply_sysctls(ctx: InitContext) -> None:
    for key, value in ((ctx.spec.get("linux") or {}).get("sysctl") or {}).items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(str(value))


def readonly_paths(ctx: InitContext) -> None:
    from hako.runtime.rootfs import readonly_path

    for path in (ctx.spec.get("linux") or {}).get("readonlyPaths") or []:
        readonly_path(path)


def masked_paths(ctx: InitContext) -> None:
    from hako.runtime.rootfs import mask_path

    for path in (ctx.spec.get("linux") or {}).get("maskedPaths") or []:
        mask_path(path)


def readonly_root(ctx: InitContext) -> None:
    if (ctx.spec.get("root") or {}).get("readonly"):
        from hako.runtime.rootfs import readonly_root as remount

        remount()


def set_oom_score(ctx: InitContext) -> None:
    score = ctx.process.get("oomScoreAdj")
    if score is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(int(score)))


def apply_rlimits(ctx: InitContext) -> None:
    from hako.runtime.user import apply_rlimits as setrlimits

    setrlimits(ctx.process.get("rlimits") or [])


def set_no_new_privs(ctx: InitContext) -> None:
    if ctx.process.get("noNewPrivileges"):
        from hako.linux import syscalls

        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)


def create_cwd(ctx: InitContext) -> None:
    from hako.runtime.user import create_cwd as mkdir

    mkdir(ctx.process.get("cwd") or "/")


def enter_cwd(ctx: InitContext) -> None:
    from hako.runtime.user import enter_cwd as chdir

    chdir(ctx.process.get("cwd") or "/")


def switch_user(ctx: InitContext) -> None:
    from hako.runtime.user import switch_user as setids

    setids(ctx.process.get("user") or {})


def apply_capabilities(ctx: InitContext) -> None:
    caps = ctx.process.get("capabilities")
    if caps is None:
        return
    import sys

    module = sys.modules.get("hako.runtime.capabilities")
    if module is not None:
        module.apply_capabilities(caps)


def load_seccomp(ctx: InitContext) -> None:
    """Install the filter the parent compiled; a spec with linux.seccomp never runs without."""
    if (ctx.spec.get("linux") or {}).get("seccomp") is None:
        return
    if ctx.seccomp is None:
        raise StepError("load_seccomp: the spec has linux.seccomp but no filter was compiled")
    import sys

    sys.modules["hako.runtime.seccomp"].load_bpf(ctx.seccomp)


def load_seccomp_privileged(ctx: InitContext) -> None:
    """Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load before the drop."""
    if not ctx.process.get("noNewPrivileges"):
        load_seccomp(ctx)


def load_seccomp_late(ctx: InitContext) -> None:
    """With no_new_privs, load as late as possible (fewest syscalls after it), like runc."""
    if ctx.process.get("noNewPrivileges"):
        load_seccomp(ctx)


def resolve_executable(ctx: InitContext) -> None:
    from hako.runtime.user import look_path

    args = ctx.process.get("args") or []
    ctx.executable = look_path(args[0], ctx.process.get("env") or [])


def _execve(ctx: InitContext) -> None:
    for name in _RESTORE_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    args = ctx.process["args"]
    env = dict(item.split("=", 1) if "=" in item else (item, "")
               for item in ctx.process.get("env") or [])
    try:
        os.execve(ctx.executable, args, env)
    except OSError as exc:
        os.write(2, f"exec {args[0]}: {exc.strerror}\n".encode())
        os._exit(127 if exc.errno == 2 else 126)


def preload(ctx: InitContext) -> None:
    """Import everything the steps need while the host's filesystem is still visible.

    After pivot_root (or setns into the container's mount ns) Python can no longer find
    its modules, so no step may import lazily past this point; in a user namespace the
    host's files may not even be readable, so this runs before it is entered.
    """
    import ctypes  # noqa: F401 - preloaded on purpose
    import fcntl  # noqa: F401
    import resource  # noqa: F401
    import struct  # noqa: F401

    from hako.linux import mount, mountinfo, syscalls  # noqa: F401
    from hako.runtime import devices, namespaces, rootfs, user  # noqa: F401
    from hako.support import fsroot  # noqa: F401

    syscalls._lib()
    if ctx.spec.get("hooks"):  # startContainer runs after pivot_root: nothing loads then
        import json  # noqa: F401
        import select  # noqa: F401
        import time  # noqa: F401

        from hako.runtime import hooks  # noqa: F401
    if ctx.process.get("capabilities") is not None:
        try:
            from hako.runtime import capabilities  # noqa: F401
        except ImportError:
            ctx.log("capabilities module missing: capabilities left unchanged")


def run_init(ctx: InitContext) -> None:
    """Container init: set up everything, report READY, block on exec.fifo, execve.

    Never returns.
    """
    preload(ctx)
    steps = [("wait_for_go", wait_for_go), ("enter_namespaces", enter_namespaces),
             ("setup_network", setup_network), ("setup_rootfs", setup_rootfs),
             ("hooks", create_hooks), ("pivot_root", pivot_root), ("setup_console", setup_console),
             ("set_hostname", set_hostname), ("apply_sysctls", apply_sysctls),
             ("readonly_paths", readonly_paths), ("masked_paths", masked_paths),
             ("create_cwd", create_cwd), ("readonly_root", readonly_root),
             ("check_proc", check_proc)] + _process_steps()
    _run_steps(ctx, steps)
    sync.send(ctx.sock, sync.READY)
    ctx.sock.close()
    fd = os.open(f"/proc/self/fd/{ctx.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fd)
    os.close(ctx.fifo_fd)
    if ctx.hook_state is not None:
        start_container_hooks(ctx)
    _execve(ctx)


def create_hooks(ctx: InitContext) -> None:
    """Let the parent run prestart and createRuntime, then run createContainer here (in
    the container's namespaces, before pivot_root). No-op without hooks."""
    from hako.runtime import hooks

    if not hooks.any_create_hooks(ctx.spec):
        return
    sync.send(ctx.sock, sync.HOOKS)
    ctx.hook_state = sync.expect(ctx.sock, sync.RESUME)["state"]
    hooks.run_stage(ctx.spec, "createContainer", _state_json(ctx, "creating"))


def start_container_hooks(ctx: InitContext) -> None:
    """startContainer hooks, inside the container just before execve; a failure ends the
    init (exit 1) without running the process."""
    from hako.runtime import hooks

    try:
        hooks.run_stage(ctx.spec, "startContainer", _state_json(ctx, "created"))
    except Exception as exc:  # noqa: BLE001 - reported, and the process never runs
        os.write(2, f"hako-runtime: {exc}\n".encode())
        os._exit(1)


def _state_json(ctx: InitContext, status: str) -> bytes:
    import json

    # the pid as the init sees it (1 in a new pid namespace), as runc's init reports it
    return json.dumps(dict(ctx.hook_state, status=status, pid=os.getpid())).encode()


def check_proc(ctx: InitContext) -> None:
    """The exec fifo is reopened through /proc/self/fd after READY: without /proc in the
    container that would fail after create said yes (runc fails create there too)."""
    if not os.path.isdir("/proc/self/fd"):
        raise StepError("open /proc/self/fd: no such file or directory (no /proc in the "
                        "container)")


def _process_steps() -> list:
    return [("set_oom_score", set_oom_score), ("apply_rlimits", apply_rlimits),
            ("set_no_new_privs", set_no_new_privs), ("enter_cwd", enter_cwd),
            ("load_seccomp", load_seccomp_privileged), ("switch_user", switch_user),
            ("apply_capabilities", apply_capabilities), ("resolve_executable", resolve_executable),
            ("load_seccomp", load_seccomp_late)]


def join_namespaces(ctx: InitContext) -> None:
    from hako.linux import syscalls
    from hako.runtime.namespaces import EXEC_ORDER, KINDS

    if ctx.process.get("terminal"):
        os.setsid()
    fds = dict(ctx.ns_fds)
    if "user" in fds:  # runc's two passes: a netns the daemon made is the host userns's
        for kind in EXEC_ORDER[1:-1]:  # not mount: joined last, paths change meaning
            if kind in fds:
                try:
                    syscalls.setns(fds[kind], KINDS[kind][0])
                except PermissionError:
                    continue  # owned by the container's userns: joined after it
                os.close(fds.pop(kind))
    for kind in EXEC_ORDER:
        if kind in fds:
            syscalls.setns(fds[kind], KINDS[kind][0])
            os.close(fds[kind])
    if ctx.root_fd >= 0:  # the init's chroot (hostns.py)
        os.fchdir(ctx.root_fd)
        os.chroot(".")
        os.close(ctx.root_fd)


def run_exec(ctx: InitContext) -> None:
    """An exec'd process: join the container's namespaces, apply the process, execve.

    Never returns.
    """
    preload(ctx)
    steps = [("wait_for_go", wait_for_go), ("join_namespaces", join_namespaces),
             ("setup_console", setup_console)] + _process_steps()
    _run_steps(ctx, steps)
    sync.send(ctx.sock, sync.READY)
    ctx.sock.close()
    _execve(ctx)
