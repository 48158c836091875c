"""OCI lifecycle hooks: which stage runs where, and how one hook is run.

Layer: runtime (3). May import: errors, linux.

Stages, as the runtime spec and runc order them::

    create:  init sets up namespaces and mounts → HOOKS to the parent →
             parent runs prestart, then createRuntime (runtime namespace, status "creating")
             → RESUME → init runs createContainer (container namespaces, before pivot_root)
             → pivot_root … READY
    start:   exec.fifo released → init runs startContainer (inside the container, status
             "created") → execve;  the start command then runs poststart (status "running")
    delete:  after the container is gone: poststop (status "stopped")

A hook gets the container's state JSON on stdin, its ``args`` (``[path]`` when empty) and
``env`` (the runtime's own environment when absent, as Go's exec does), and is killed after
``timeout`` seconds. A failing prestart, createRuntime, createContainer or startContainer
hook fails the operation; poststart and poststop failures are logged and the lifecycle
goes on (the spec's MUST).
"""

from __future__ import annotations

import os

from hako.errors import RuntimeFailed

STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop")
PARENT_STAGES = ("prestart", "createRuntime")
OCI_VERSION = "1.0.2"


def of(spec: dict, stage: str) -> list[dict]:
    """The hooks of ``stage`` in ``spec`` (empty when none)."""
    return list(((spec.get("hooks") or {}).get(stage)) or [])


def any_create_hooks(spec: dict) -> bool:
    """Whether create needs the parent↔init hook exchange."""
    return any(of(spec, s) for s in ("prestart", "createRuntime", "createContainer",
                                     "startContainer"))


def state(spec: dict, container_id: str, status: str, pid: int, bundle: str) -> bytes:
    """The state JSON a hook reads on stdin."""
    import json

    doc: dict = {"ociVersion": spec.get("ociVersion") or OCI_VERSION, "id": container_id,
                 "status": status}
    if pid:  # a stopped container has none (runc omits the field)
        doc["pid"] = pid
    doc["bundle"] = bundle
    if spec.get("annotations"):
        doc["annotations"] = spec["annotations"]
    return json.dumps(doc).encode()


def validate(spec: dict) -> None:
    """Check every hook entry before anything is set up.

    Raises:
        InvalidArgument: an unknown stage, a relative path, a bad timeout.
    """
    from hako.errors import InvalidArgument

    for stage, entries in (spec.get("hooks") or {}).items():
        if stage not in STAGES:
            raise InvalidArgument(f"unknown hook stage {stage!r}")
        for i, hook in enumerate(entries or []):
            path = hook.get("path") or ""
            if not path.startswith("/"):
                raise InvalidArgument(f"{stage} hook #{i}: path {path!r} is not absolute")
            timeout = hook.get("timeout")
            if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
                raise InvalidArgument(f"{stage} hook #{i}: timeout must be a positive integer")


def run_stage(spec: dict, stage: str, state_json: bytes) -> None:
    """Run every hook of ``stage`` in order; the first failure raises.

    Raises:
        RuntimeFailed: ``error running <stage> hook #N: <why>``.
    """
    for i, hook in enumerate(of(spec, stage)):
        why = run_one(hook, state_json)
        if why:
            raise RuntimeFailed(f"error running {stage} hook #{i}: {why}")


def run_stage_logged(spec: dict, stage: str, state_json: bytes, warn) -> None:
    """Run every hook of ``stage``; failures are passed to ``warn`` and the rest still run."""
    for i, hook in enumerate(of(spec, stage)):
        why = run_one(hook, state_json)
        if why:
            warn(f"error running {stage} hook #{i}: {why}")


def run_one(hook: dict, state_json: bytes) -> str:
    """Run one hook to completion. Returns "" on success, else why it failed."""
    import select
    import signal

    path = hook.get("path") or ""
    args = list(hook.get("args") or []) or [path]
    env = hook.get("env")
    envmap = None if env is None else dict(
        e.split("=", 1) if "=" in e else (e, "") for e in env)
    timeout = hook.get("timeout")
    _children_in_own_pid_namespace()
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()  # exec failure text
    os.set_inheritable(err_w, False)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            os.dup2(stdin_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            for fd in (stdin_r, stdin_w, out_r, out_w, err_r):
                os.close(fd)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            if envmap is None:
                os.execv(path, args)
            os.execve(path, args, envmap)
        except OSError as exc:
            os.write(err_w, f"exec {path}: {exc.strerror}".encode())
        finally:
            os._exit(127)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    try:
        try:
            os.write(stdin_w, state_json)
        except BrokenPipeError:
            pass
        os.close(stdin_w)
        stdin_w = -1
        failed = os.read(err_r, 4096).decode(errors="replace")  # EOF once it has exec'd
        output = b""
        pidfd = _pidfd(pid)
        try:
            deadline = None if timeout is None else _now() + timeout
            while True:
                wait = None if deadline is None else max(0.0, deadline - _now())
                if pidfd < 0:  # no pidfd: look at the child every 10 ms
                    wait = 0.01 if wait is None else min(wait, 0.01)
                watched = [fd for fd in (out_r, pidfd) if fd >= 0]
                ready, _, _ = select.select(watched, [], [], wait)
                if not ready and deadline is not None and _now() >= deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    return f"hook ran past specified timeout of {float(timeout):.1f}s"
                if out_r in ready:
                    chunk = os.read(out_r, 65536)
                    output = (output + chunk)[-4096:]
                    if not chunk:
                        os.close(out_r)
                        out_r = -1
                if pidfd in ready or pidfd < 0:
                    done, status = os.waitpid(pid, 0 if pidfd >= 0 else os.WNOHANG)
                    if done:
                        break
        finally:
            if pidfd >= 0:
                os.close(pidfd)
        if out_r >= 0:  # what it wrote before exiting (a child it left may hold the pipe)
            os.set_blocking(out_r, False)
            try:
                output = (output + os.read(out_r, 65536))[-4096:]
            except BlockingIOError:
                pass
        if failed:
            return failed
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            return ""
        text = output.decode(errors="replace").strip()
        reason = f"exit status {code}" if code > 0 else f"signal: {signal.Signals(-code).name}"
        return f"{reason}, output: {text}" if text else reason
    finally:
        for fd in (stdin_w, out_r, err_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _pidfd(pid: int) -> int:
    """A pidfd of ``pid``, or -1 where pidfd_open is refused: startContainer hooks run under
    the container's seccomp filter, and older profiles (the OCI generator's) lack it."""
    try:
        return os.pidfd_open(pid)
    except OSError:
        return -1


def _children_in_own_pid_namespace() -> None:
    """Hooks run in the runtime's pid namespace: ``create`` entered the container's for the
    init's sake (and forking into it fails once its init has died)."""
    try:
        if os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid"):
            return
    except OSError:
        return
    from hako.linux import syscalls

    fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(fd, syscalls.CLONE_NEWPID)
    finally:
        os.close(fd)


def _now() -> float:
    import time

    return time.monotonic()
