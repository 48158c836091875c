"""Per-container shim: holds stdio/pty, writes the json log, reaps, records the exit status.

Layer: runtime (3). May import: hako.runtime.shim_server, shim_io, shim_runtime,
shim_wire, jsonlog, shim_inproc (which imports hako.runtime.cli when it runs it). Nothing
heavy: the shim lives as long as its container, so its imports are C modules plus a few
small hako modules (see docs in shimclient).

Command line (the spawner is the daemon, through ``hako.runtime.shimclient.spawn``)::

    python -m hako.runtime.shim create --id ID --bundle DIR --state-dir DIR
        --runtime BIN --runtime-root DIR --log-file PATH [--tty] [--stdin] [--stdin-once]
        [--log-max-size BYTES] [--log-max-file N] [--log-compress] [--log-attrs JSON]

``--log-file ""`` means no log (the ``none`` driver). The log options are Docker's json-file
rotation, already validated by the daemon (``hako.daemon.logconfig``).

The invoking process forks; the child calls setsid and forks again, so the shim is not a
child of the daemon and outlives it. The shim becomes a child subreaper, closes inherited
fds, points its stdio at /dev/null, creates the container's stdio, binds ``STATE/shim.sock``
and runs ``BIN --root ROOT create``. It reports one JSON line to the invoker, which prints
it and exits 0 (``{"ok": true, "pid": N, "shim_pid": M}``) or 1
(``{"ok": false, "error": "..."}``). The on-disk layout is in ``shim_server``.

hakod usually does not exec this module: its zygote (``hako.runtime.zygote``), which has
imported it, forks a child that starts a session and becomes the shim (``run_here``),
writing the report line straight to the zygote's client.

When the init exits: its output is drained, the OOM counter read, ``exit.json`` written,
waiters answered, attach connections flushed and closed, the sockets removed,
``runtime delete --force`` run (in this process when the runtime is hako's own wrapper,
see ``runtime_delete``), and the shim exits 0. With hako's own runtime, create, start, exec
and kill do not exec a CLI either (``hako.runtime.shim_inproc``).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

_FLAGS = ("--tty", "--stdin", "--stdin-once", "--log-compress")
_VALUES = ("--id", "--bundle", "--state-dir", "--runtime", "--runtime-root", "--log-file")
_OPTIONAL = {"--log-max-size": "-1", "--log-max-file": "1", "--log-attrs": ""}


def parse_args(argv: list[str]) -> dict:
    """Parse the ``create`` command line (argparse is too heavy for the shim).

    Args:
        argv: arguments after ``create``.

    Returns:
        Options keyed by the flag name with dashes as underscores.

    Raises:
        ValueError: an unknown flag, a missing value or a missing required flag.
    """
    opts: dict = {f[2:].replace("-", "_"): False for f in _FLAGS}
    opts.update({k[2:].replace("-", "_"): v for k, v in _OPTIONAL.items()})
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in _FLAGS and not eq:
            opts[name[2:].replace("-", "_")] = True
        elif name in _VALUES or name in _OPTIONAL:
            if not eq:
                value = next(it, None)
                if value is None:
                    raise ValueError(f"flag {name} needs a value")
            opts[name[2:].replace("-", "_")] = value
        else:
            raise ValueError(f"unknown argument {arg!r}")
    missing = [v for v in _VALUES if v[2:].replace("-", "_") not in opts]
    if missing:
        raise ValueError(f"missing required flags: {' '.join(missing)}")
    for key in ("bundle", "state_dir", "log_file", "runtime_root"):
        if opts[key]:
            opts[key] = os.path.abspath(opts[key])
    try:
        opts["log_max_size"], opts["log_max_file"] = int(opts["log_max_size"]), int(opts["log_max_file"])
    except ValueError:
        raise ValueError("--log-max-size and --log-max-file take integers") from None
    return opts


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``create`` forks the detached shim and prints its report line."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "create":
        sys.stderr.write("usage: python -m hako.runtime.shim create --id ID ...\n")
        return 2
    try:
        opts = parse_args(argv[1:])
    except ValueError as exc:
        sys.stdout.write(_report({"ok": False, "error": str(exc)}))
        return 1
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the detached process
        os.close(r)
        _detach_and_run(opts, w)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(child, 0)
    line = data.decode("utf-8", "replace").strip().splitlines()
    text = line[-1] if line else _report({"ok": False, "error": "shim exited before reporting"})
    sys.stdout.write(text.rstrip("\n") + "\n")
    sys.stdout.flush()
    return 0 if '"ok":true' in text.replace(" ", "") else 1


def run_here(argv: list[str], report_fd: int) -> NoReturn:  # pragma: no cover - the zygote's child
    """Become the shim for ``create ARGV``, reporting on ``report_fd`` (the zygote's client
    connection): the zygote's child that calls this has started a session of its own and
    is re-parented when the zygote exits, as a double-forked shim is when its parents do,
    so no invoker process sits between them."""
    try:
        if argv[:1] != ["create"]:
            raise ValueError(f"not a shim command: {' '.join(argv[:1]) or '(none)'}")
        opts = parse_args(argv[1:])
    except ValueError as exc:
        os.write(report_fd, _report({"ok": False, "error": str(exc)}).encode())
        os._exit(1)
    _detach_and_run(opts, report_fd, detach=False)


def _report(obj: dict) -> str:
    from hako.runtime import shim_wire

    return shim_wire.dumps(obj) + "\n"


def _detach_and_run(opts: dict, report_fd: int, detach: bool = True) -> NoReturn:  # pragma: no cover
    code = 1
    try:
        if detach:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
        _become_daemon(report_fd)
        code = _run_shim(opts, report_fd)
    except BaseException as exc:  # report anything, never return into the invoker's code
        try:
            os.write(report_fd, _report({"ok": False, "error": f"shim: {exc}"}).encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _become_daemon(report_fd: int) -> None:
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
    os.closerange(3, report_fd)
    os.closerange(report_fd + 1, 65536)
    os.umask(0o022)
    _set_subreaper()


_TRIM: list = []


def _set_subreaper() -> None:
    """prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned container processes come to the shim."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    _TRIM.append(libc.malloc_trim)
    if "hako.runtime.zygote" in sys.modules:
        return  # forked by the zygote: ctypes is shared with it (freeing it would copy pages)
    for name in [m for m in sys.modules if m.startswith("ctypes")]:
        del sys.modules[name]  # the shim is long-lived: let the module objects go


def _release_memory() -> None:
    """Give the setup's freed heap back to the kernel (the shim is long-lived)."""
    import gc

    gc.collect()
    if _TRIM:
        _TRIM.pop()(0)


def _run_shim(opts: dict, report_fd: int) -> int:  # pragma: no cover
    from hako.runtime import shim_io, shim_runtime
    from hako.runtime.jsonlog import LogWriter
    from hako.runtime.shim_server import Shim

    os.makedirs(opts["state_dir"], exist_ok=True)
    os.chdir(opts["state_dir"])
    from hako.runtime.shim_inproc import is_own_runtime

    if is_own_runtime(opts["runtime"]):  # create, start, exec, kill without exec-ing it
        shim_runtime.OWN_RUNTIME = opts["runtime"]
    shim = Shim(opts)
    log = None
    if opts["log_file"]:
        log = LogWriter(opts["log_file"], max_size=opts["log_max_size"], max_file=opts["log_max_file"],
                        compress=opts["log_compress"], attrs=opts["log_attrs"].encode(),
                        on_child=shim.ignored_pids.add)
    init = shim.init = shim_io.Proc(shim.loop, "init", opts["state_dir"], tty=opts["tty"],
                                    stdin=opts["stdin"], stdin_once=opts["stdin_once"], log=log)
    shim.install_reaper()
    shim.listen("shim.sock", init, True)
    argv = shim.runtime + ["create", "--bundle", opts["bundle"],
                           "--pid-file", os.path.join(opts["state_dir"], "init.pid")]
    try:
        call = shim.run_with_stdio(init, argv, opts["id"])
    except OSError as exc:
        call = shim_runtime.RuntimeCall(127, f"{opts['runtime']}: {exc}".encode(), None)
    if call.rc != 0:
        runtime_delete(shim.runtime, opts["id"])
        _cleanup_sockets(shim)
        if log is not None:
            log.close()
        _send_report(report_fd, {"ok": False, "error": call.error()})
        return 1
    shim.track(init, _read_pid("init.pid"))
    shim_io.write_json_atomic("shim.json", {
        "schema_version": 1, "id": opts["id"], "pid": init.pid, "shim_pid": os.getpid(),
        "shim_start_time": _start_time(), "bundle": opts["bundle"], "tty": opts["tty"],
    })
    _send_report(report_fd, {"ok": True, "pid": init.pid, "shim_pid": os.getpid()})
    os.close(report_fd)
    _release_memory()
    return _serve(shim, init)


def _send_report(report_fd: int, obj: dict) -> None:
    """Write the report line; a reader that is gone (hakod killed, or it gave up waiting:
    EPIPE on the zygote's connection) must not end the shim of a created container: a
    restarted hakod finds it through shim.json and stops it (``bundle.stop_stale_shim``)."""
    try:
        os.write(report_fd, _report(obj).encode())
    except OSError:
        pass


def _serve(shim, init) -> int:  # pragma: no cover
    from hako.runtime import shim_runtime

    def finished(proc) -> None:
        proc.oom_killed = shim_runtime.oom_killed(shim.opts["bundle"])

    init.on_finished = finished
    init.on_idle = lambda proc: _shutdown(shim)
    init.on_exited = lambda proc: _kill_leftovers(shim)
    while not shim.done:
        shim.loop.run_once()
    _cleanup_sockets(shim)  # first: late clients get ENOENT, not a reset, and read exit.json
    runtime_delete(shim.runtime, shim.opts["id"])
    return 0


def _kill_leftovers(shim) -> None:
    """When the init exits, SIGKILL what is left in the container's cgroup if it has no
    pid namespace of its own (containerd's shouldKillAllOnExit): with the host's (or
    another container's) pid namespace the kernel kills nothing, and a leftover holding
    the output pipes would keep the container "running" until the drain timeout."""
    import json

    from hako.runtime import shim_runtime

    try:
        with open(os.path.join(shim.opts["bundle"], "config.json"), "rb") as f:
            spec = json.loads(f.read())
    except (OSError, ValueError):
        return
    namespaces = (spec.get("linux") or {}).get("namespaces") or []
    if any(ns.get("type") == "pid" and not ns.get("path") for ns in namespaces):
        return  # its own pid namespace: the kernel killed the rest with the init
    try:
        shim_runtime.run(shim.runtime + ["kill", "--all", shim.opts["id"], "9"])
    except OSError:
        pass  # delete --force kills them when the shim exits


def runtime_delete(runtime: list[str], ctr_id: str) -> int:
    """``runtime delete --force ID``: in this process when the runtime is hako's own.

    Exec-ing hako-runtime starts an interpreter (20-30 ms) just to remove a cgroup and a
    state dir, on the path between the init's exit and the shim's exit (which the daemon
    waits for). The shim only calls this when it is about to exit, so importing the runtime
    here costs no resident memory.

    Args:
        runtime: ``[BIN, "--root", ROOT]`` as the shim runs it.
        ctr_id: the container id.

    Returns:
        The runtime's exit code.
    """
    from hako.runtime import shim_inproc, shim_runtime

    if shim_inproc.is_own_runtime(runtime[0]):
        return shim_inproc.in_process(runtime[1:] + ["delete", "--force", ctr_id])[0]
    return shim_runtime.run(runtime + ["delete", "--force", ctr_id]).rc


def is_own_runtime(path: str) -> bool:
    """See ``hako.runtime.shim_inproc.is_own_runtime``."""
    from hako.runtime import shim_inproc

    return shim_inproc.is_own_runtime(path)


def _shutdown(shim) -> None:  # pragma: no cover
    """After the init finished: let exec sessions finish too (bounded), then stop."""
    import time

    deadline = time.monotonic() + 5.0

    def check() -> None:
        busy = [p for p in shim.execs.values() if p.status == "running" and not p.finished]
        busy += [p for p in shim.execs.values() if p.finished and p.conns]
        if not busy or time.monotonic() >= deadline:
            shim.done = True
        else:
            shim.loop.call_at(min(deadline, time.monotonic() + 0.05), check)

    check()


def _cleanup_sockets(shim) -> None:
    for path, sock in shim.listeners.items():
        sock.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _read_pid(path: str) -> int:
    with open(path, "rb") as f:
        return int(f.read().strip())


def _start_time() -> int:
    """This process's start time in clock ticks (field 22 of /proc/self/stat)."""
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


if __name__ == "__main__":
    sys.exit(main())
