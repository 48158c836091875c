"""Starting conmon (the container monitor Podman uses) for a container or an exec session.

Layer: runtime (3). May import: errors, linux.proc, hako.runtime.shim_runtime, shim_wire.

conmon is hako's alternative shim (``hakod --shim conmon``). It is spoken to through the
files and pipes of its protocol, as Podman's ``libpod/oci_conmon_*.go`` does:

- ``_OCI_SYNCPIPE``: conmon writes ``{"data": PID}`` once the runtime created the process,
  or ``{"data": -N, "message": "runtime stderr"}`` when it failed (``--api-version 1``);
- ``_OCI_STARTPIPE``: conmon blocks on it before forking; an exec session reads it a
  second time, in the child, before ``runtime exec`` (so that an attach loses nothing);
- ``_OCI_ATTACHPIPE`` (exec with ``--exec-attach``): ``{"data": 0}`` once the attach
  socket listens;
- ``-P`` conmon's pid file; ``-p`` the container's; ``--exit-dir D`` gets ``D/<cid>`` with
  the exit status; ``--persist-dir P`` gets ``P/exit`` and, after an OOM kill, ``P/oom``;
- ``-b DIR --full-attach``: the SEQPACKET ``DIR/attach`` socket and the ``DIR/ctl`` FIFO;
- ``-l k8s-file:PATH`` (or ``none:``) with ``--log-size-max``: conmon truncates the file
  when it reaches the size; it keeps no rotated files and stores no attributes;
- ``--exit-command RUNTIME --exit-command-arg delete ...``: conmon runs ``runtime delete``
  after writing the exit files and before it exits (so its pidfd turns readable last).

State dir layout (the container's bundle dir)::

    conmon.json          {"schema_version", "kind": "conmon", "id", "pid", "shim_pid", ...}
    conmon.pid init.pid  pid files written by conmon
    attach ctl winsz     conmon's attach socket and FIFOs
    exits/<id>           the exit status (conmon's --exit-dir)
    persist/exit, oom    conmon's --persist-dir
    execs/<E>/           the same files per exec session, plus process.json
"""

from __future__ import annotations

import os
import subprocess

from hako.errors import RuntimeFailed, Unsupported

SPAWN_TIMEOUT = 60.0
RECORD = "conmon.json"


def conmon_binary() -> str:
    """The conmon executable (``HAKO_CONMON`` or ``conmon`` in PATH).

    Raises:
        Unsupported: conmon is not installed.
    """
    import shutil

    path = os.environ.get("HAKO_CONMON") or shutil.which("conmon")
    if not path:
        raise Unsupported("the conmon shim needs conmon installed (Debian package conmon)")
    return path


def log_arguments(log_file: str, log_opts: dict | None) -> list[str]:
    """conmon's log flags for the container's log settings, refusing what conmon cannot do.

    Args:
        log_file: the live log path ("" for the ``none`` driver).
        log_opts: as ``shimclient.spawn`` takes them (``max_size``, ``max_file``,
            ``compress``, ``attrs``).

    Returns:
        The flags (``-l k8s-file:PATH`` or ``-l none:``, and ``--log-size-max N``).

    Raises:
        Unsupported: rotation to more than one file, compression or log attributes.
    """
    if not log_file:
        return ["-l", "none:"]
    lo = log_opts or {}
    if int(lo.get("max_file", 1)) > 1:
        raise Unsupported(f"the conmon shim keeps one log file: log-opt max-file={lo['max_file']} "
                          "is not supported (use max-file=1, or hakod --shim hako)")
    if lo.get("compress"):
        raise Unsupported("the conmon shim does not compress logs: log-opt compress=true is not supported")
    if lo.get("attrs"):
        raise Unsupported("the conmon shim writes no log attributes: log-opt labels, env and tag "
                          "are not supported")
    args = ["-l", f"k8s-file:{log_file}"]
    if int(lo.get("max_size", -1)) >= 0:
        args += ["--log-size-max", str(int(lo["max_size"]))]
    return args


def absolute_runtime(runtime: str) -> str:
    """conmon execs the runtime (and the exit command) by path: resolve a bare name.

    Raises:
        RuntimeFailed: not found in PATH.
    """
    import shutil

    path = runtime if "/" in runtime else shutil.which(runtime)
    if not path:
        raise RuntimeFailed(f"runtime {runtime!r}: executable file not found in $PATH", 127)
    return os.path.abspath(path)


def container_argv(*, conmon: str, id: str, bundle: str, state_dir: str, runtime: str,
                   runtime_root: str, log_args: list[str], tty: bool, stdin: bool,
                   stdin_once: bool) -> list[str]:
    """conmon's command line for a container (``runtime create`` in ``bundle``)."""
    argv = [conmon, "--api-version", "1", "-c", id, "-u", id, "-n", id, "-r", runtime,
            "-b", bundle, "-p", os.path.join(state_dir, "init.pid"),
            "-P", os.path.join(state_dir, "conmon.pid"),
            "--exit-dir", os.path.join(state_dir, "exits"),
            "--persist-dir", os.path.join(state_dir, "persist"), "--full-attach",
            "--runtime-arg", "--root", "--runtime-arg", runtime_root, *log_args,
            "--exit-command", runtime]
    for arg in ("--root", runtime_root, "delete", "--force", id):
        argv += ["--exit-command-arg", arg]
    if tty:
        argv.append("-t")
    if stdin:
        argv.append("-i")
        if not stdin_once or tty:  # a pty gets no EOF from a client leaving (as Docker)
            argv.append("--leave-stdin-open")
    return argv


def exec_argv(*, conmon: str, id: str, exec_id: str, exec_dir: str, runtime: str,
              runtime_root: str, tty: bool, stdin: bool) -> list[str]:
    """conmon's command line for an exec session (``runtime exec`` of exec_dir/process.json),
    attached: its attach socket listens before the process starts."""
    argv = [conmon, "--api-version", "1", "-c", id, "-u", exec_id, "-r", runtime,
            "-b", exec_dir, "-p", os.path.join(exec_dir, "pid"),
            "-P", os.path.join(exec_dir, "conmon.pid"),
            "--exit-dir", os.path.join(exec_dir, "exits"),
            "--persist-dir", os.path.join(exec_dir, "persist"), "--full-attach",
            "-l", "none:", "-e", "--exec-attach",
            "--exec-process-spec", os.path.join(exec_dir, "process.json"),
            "--runtime-arg", "--root", "--runtime-arg", runtime_root]
    if tty:
        argv.append("-t")
    if stdin:
        argv += ["-i", "--leave-stdin-open"] if tty else ["-i"]
    return argv


class Launch:
    """A conmon started with its pipes (our ends): ``sync`` to read, ``start`` to write,
    ``attach`` to read (exec sessions only)."""

    def __init__(self, argv: list[str], cwd: str, *, start: bool, attach: bool) -> None:
        pipes = {"_OCI_SYNCPIPE": os.pipe()}
        if start:
            pipes["_OCI_STARTPIPE"] = os.pipe()
        if attach:
            pipes["_OCI_ATTACHPIPE"] = os.pipe()
        theirs = {k: (w if k != "_OCI_STARTPIPE" else r) for k, (r, w) in pipes.items()}
        ours = {k: (r if k != "_OCI_STARTPIPE" else w) for k, (r, w) in pipes.items()}
        env = dict(os.environ, **{k: str(fd) for k, fd in theirs.items()})
        try:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, pass_fds=list(theirs.values()),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        except OSError as exc:
            for fd in list(theirs.values()) + list(ours.values()):
                os.close(fd)
            raise RuntimeFailed(f"failed to start conmon: {exc}", 128) from exc
        for fd in theirs.values():
            os.close(fd)
        self.sync = ours["_OCI_SYNCPIPE"]
        self.start = ours.get("_OCI_STARTPIPE")
        self.attach = ours.get("_OCI_ATTACHPIPE")

    def detached(self, timeout: float = SPAWN_TIMEOUT) -> None:
        """Wait for conmon's first process to exit (it forks the monitor and exits 0).

        Raises:
            RuntimeFailed: conmon refused its arguments.
        """
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeFailed("conmon did not detach", 128) from exc
        if self.proc.returncode != 0:
            self.close()
            text = err.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeFailed(f"conmon failed: {text[-1] if text else self.proc.returncode}", 128)

    def close(self) -> None:
        """Close our ends of the pipes."""
        for name in ("sync", "start", "attach"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)


def read_message(fd: int, timeout: float = SPAWN_TIMEOUT) -> dict:
    """Read one ``{"data": N[, "message": ...]}`` line from a conmon pipe.

    Raises:
        RuntimeFailed: conmon exited (EOF) or timed out before writing it.
    """
    import select

    from hako.runtime import shim_wire

    buf = b""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while b"\n" not in buf:
        if not poller.poll(timeout * 1000):
            raise RuntimeFailed("conmon did not report in time", 128)
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeFailed("conmon exited without reporting", 128)
        buf += chunk
    doc = shim_wire.loads(buf.split(b"\n", 1)[0])
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), int):
        raise RuntimeFailed(f"conmon sent an unexpected message: {buf[:200]!r}", 128)
    return doc


def checked_pid(doc: dict) -> int:
    """The pid of a sync message, or the runtime's failure as RuntimeFailed."""
    from hako.runtime.shim_runtime import last_error_line
    from hako.runtime.shimclient import runtime_exit_code

    if doc["data"] > 0:
        return int(doc["data"])
    msg = last_error_line(str(doc.get("message") or "").encode()) or "runtime failed"
    raise RuntimeFailed(msg, runtime_exit_code(msg))


def spawn(*, id: str, bundle: str, state_dir: str, runtime: str, runtime_root: str,
          log_file: str, tty: bool = False, stdin: bool = False, stdin_once: bool = False,
          log_opts: dict | None = None, timeout: float = SPAWN_TIMEOUT):
    """Start conmon, which creates the container (``runtime create``); like
    ``shimclient.spawn`` (same arguments, same errors), returning a ``ConmonHandle``.

    Raises:
        RuntimeFailed: the runtime or conmon failed; ``exit_code`` as Docker would record.
        Unsupported: a log option conmon cannot honour, or no conmon installed.
    """
    from hako.runtime.conmon_handle import ConmonHandle
    from hako.runtime.shim_io import write_json_atomic

    log_args = log_arguments(log_file, log_opts)
    runtime = absolute_runtime(runtime)
    argv = container_argv(conmon=conmon_binary(), id=id, bundle=bundle, state_dir=state_dir,
                          runtime=runtime, runtime_root=runtime_root, log_args=log_args,
                          tty=tty, stdin=stdin, stdin_once=stdin_once)
    for sub in ("exits", "persist"):
        os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
    launch = Launch(argv, state_dir, start=False, attach=False)
    try:
        launch.detached(timeout)
        pid = checked_pid(read_message(launch.sync, timeout))
    finally:
        launch.close()
    from hako.linux import proc as linux_proc

    with open(os.path.join(state_dir, "conmon.pid")) as f:
        shim_pid = int(f.read().strip())
    record = {"schema_version": 1, "kind": "conmon", "id": id, "pid": pid, "shim_pid": shim_pid,
              "shim_start_time": linux_proc.start_time(shim_pid) or 0, "bundle": bundle,
              "tty": bool(tty), "runtime": [runtime, "--root", runtime_root]}
    write_json_atomic(os.path.join(state_dir, RECORD), record)
    return ConmonHandle(state_dir, record)
