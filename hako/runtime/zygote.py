"""The shim zygote: one pre-imported process that forks a shim per container.

Layer: runtime (3). May import: hako.runtime.shim_wire; the zygote process itself imports
the shim and hako's runtime (``PRELOAD``); hakod's side (``Supervisor``, ``spawn_shim``)
only os, socket and subprocess, imported when used.

Without it every container costs one interpreter start (the shim) plus, for hako's own
runtime, the imports of ``hako-runtime``. hakod starts one zygote (``Supervisor``); it
imports the shim and the runtime, calls ``gc.freeze()`` and waits on
``<exec-root>/zygote.sock`` (hakod binds the socket and hands the zygote its fd). Its pid
and start time are recorded in ``<exec-root>/zygote.json``. Per request the zygote only
accepts and forks; the child talks to the client::

    client → {"argv": ["create", "--id", ...]}      (the shim's command line)
    child  → {"ack": PID}                            the request was taken
    client → "go"                                    the client still wants it
    child  → the shim's report line, then EOF        (as ``python -m hako.runtime.shim``)

The child then starts a session of its own and becomes the shim itself
(``hako.runtime.shim.run_here``), writing its report line straight to the client: no
invoker forks it, so each container costs one fork of the zygote, not two. The zygote
ignores SIGCHLD, so the kernel reaps the shims it forked; when the zygote exits they are
re-parented (to init or the nearest subreaper), so a shim outlives hakod and the zygote as
a double-forked, exec'd one does. Pages are shared copy-on-write with the zygote, so a
shim's PSS is about its private dirty pages.

The same handshake serves ``call``: ``{"call": [module, function], "args": [...]}`` runs
one of hako's functions once in the child and answers ``{"result": ...}``, for work whose
imports an idle hakod should not keep (the Go Dockerfile parser, ``build/dockerfile/goparse``).

A client that gets no ack (no zygote, the zygote died, or it did not answer within
``ACK_TIMEOUT``) gets None from ``spawn_shim`` and uses the exec path: a start never fails
because of the zygote. The handshake makes that fallback safe: a child whose client
gave up reads EOF instead of "go" and exits without creating anything.

The zygote exits when hakod does: its stdin is a pipe whose write end only hakod holds.
``Supervisor`` watches the zygote's pidfd and starts a new one when it dies.
"""

from __future__ import annotations

import os
import sys

from hako.runtime import shim_wire

SOCKET_NAME = "zygote.sock"
RECORD_NAME = "zygote.json"
ACK_TIMEOUT = 5.0
REQUEST_TIMEOUT = 10.0
PRELOAD = (
    "hako.runtime.shim", "hako.runtime.shim_server", "hako.runtime.shim_io",
    "hako.runtime.shim_runtime", "hako.runtime.shim_inproc", "hako.runtime.forked",
    "hako.runtime.jsonlog", "hako.runtime.cli", "hako.runtime.process", "hako.runtime.container",
    "hako.runtime.init", "hako.runtime.validate", "hako.runtime.namespaces",
    "hako.runtime.rootfs", "hako.runtime.devices", "hako.runtime.user", "hako.runtime.sync",
    "hako.runtime.capabilities", "hako.runtime.hooks", "hako.runtime.idmap",
    "hako.runtime.seccomp", "hako.runtime.cgroups.detect", "hako.runtime.cgroups.none",
    "hako.linux.idmaps", "hako.support.fsroot", "resource", "hako.linux.proc",
    "hako.linux.syscalls", "hako.linux.mount", "hako.linux.mountinfo", "ctypes", "fcntl",
    "_blake2", "encodings.ascii",
)


def preload() -> list[str]:
    """``PRELOAD`` and the cgroup driver of this host (v1 or v2: a host uses one, and
    each costs its modules in the zygote and in every shim forked from it)."""
    from hako.runtime.cgroups import detect

    driver = "hako.runtime.cgroups.v2" if detect.is_v2() else "hako.runtime.cgroups.v1"
    return [*PRELOAD, driver]


_socket_path: str | None = None  # set by the Supervisor while a zygote runs


def set_socket_path(path: str | None) -> None:
    """Where ``spawn_shim`` finds the zygote (None: there is none, exec the shim)."""
    global _socket_path
    _socket_path = path


# --- client (hakod, called from worker threads) -------------------------------------------


def spawn_shim(argv: list[str], timeout: float, path: str | None = None) -> bytes | None:
    """Have the zygote fork a shim with this command line.

    Args:
        argv: the shim's arguments (``["create", "--id", ...]``).
        timeout: seconds to wait for the report once the zygote took the request.
        path: the zygote's socket (default: the one the Supervisor runs).

    Returns:
        The shim's report line, or None when no zygote took
        the request (the caller then execs the shim itself).

    Raises:
        OSError: the zygote took the request but the report did not come (as a failed
            exec of the shim would).
    """
    return _request({"argv": list(argv)}, timeout, path)


def call(module: str, function: str, args: list, timeout: float, sys_path: tuple[str, ...] = (),
         path: str | None = None) -> object:
    """Run ``module.function(*args)`` once in a fork of the zygote and return its result
    (JSON values in and out): for work whose imports an idle hakod should not keep (the
    Go Dockerfile parser maps about 4 MiB and starts Go's threads). ``module`` is one of
    hako's; ``sys_path`` entries go first on the child's path.

    Returns:
        The result, or None when no zygote took the request (the caller then does the work
        itself); a function's result is never None.

    Raises:
        OSError: the zygote took the request but the result did not come.
    """
    req = {"call": [module, function], "args": list(args), "path": list(sys_path)}
    if len(shim_wire.line(req)) > shim_wire.MAX_LINE:
        return None
    out = _request(req, timeout, path)
    if out is None:
        return None
    try:
        reply = shim_wire.loads(out)
    except ValueError:
        reply = None
    if not isinstance(reply, dict) or reply.get("result") is None:
        raise OSError(f"the zygote's {module}.{function} failed")
    return reply["result"]


def _request(req: dict, timeout: float, path: str | None) -> bytes | None:
    """Send one request; None when no zygote took it, else what the child wrote."""
    path = path or _socket_path
    if not path:
        return None
    from hako.runtime.shimclient import connect

    try:
        sock = connect(path, ACK_TIMEOUT)
    except OSError:
        return None
    with sock:
        try:
            sock.sendall(shim_wire.line(req))
            ack = _read_line(sock)
            if not ack or "ack" not in shim_wire.loads(ack):
                return None
        except (OSError, ValueError):
            return None
        sock.settimeout(timeout)
        sock.sendall(b"go\n")
        out = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            out += chunk


def _read_line(sock) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            return b""
        buf += chunk
        if len(buf) > shim_wire.MAX_LINE:
            raise ValueError("line too long")
    return buf


# --- the zygote process --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - runs as the zygote
    """``python -S -c 'from hako.runtime.zygote import main; main()' LISTEN_FD``."""
    argv = sys.argv[1:] if argv is None else argv
    listen_fd = int(argv[0])
    import gc
    import importlib

    gc.disable()  # no collection, so no freed holes in the pages the shims will share
    for name in preload():
        try:
            importlib.import_module(name)
        except ImportError as exc:  # a shim then imports what it needs itself
            sys.stderr.write(f"hako zygote: not preloaded: {name}: {exc}\n")
    gc.freeze()  # the shims' collections never touch (and copy) these pages
    _serve(listen_fd)
    return 0


def _serve(listen_fd: int) -> None:  # pragma: no cover - runs as the zygote
    import _socket
    import select

    listener = _socket.socket(fileno=listen_fd)
    poller = select.poll()
    poller.register(listen_fd, select.POLLIN)
    poller.register(0, select.POLLIN)  # hakod's pipe: EOF when hakod is gone
    import _signal

    # Children (shims that live as long as their containers, call children) are reaped by
    # the kernel: no zombie waits for a zygote that must not wake up for them.
    _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)
    while True:
        for fd, events in poller.poll():
            if fd == 0:
                return
            try:
                conn_fd, _ = listener._accept()
            except (BlockingIOError, InterruptedError):
                continue
            try:
                pid = os.fork()
            except OSError:  # EAGAIN, ENOMEM: the client reads EOF and execs the shim itself
                os.close(conn_fd)
                continue
            if pid == 0:
                listener.close()
                _invoker(conn_fd)
            os.close(conn_fd)


def _invoker(conn_fd: int) -> None:  # pragma: no cover - runs in the zygote's child
    """Serve one request: handshake, then become the shim (or run the call)."""
    from hako.runtime.forked import run_and_exit

    run_and_exit(lambda: _invoke(conn_fd), "hako zygote: request failed")


def _invoke(conn_fd: int) -> int:  # pragma: no cover - runs in the zygote's child
    import _signal
    import _socket

    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # the zygote's SIG_IGN is inherited
    os.close(0)  # hakod's liveness pipe stays with the zygote
    os.open("/dev/null", os.O_RDONLY)
    conn = _socket.socket(fileno=conn_fd)
    conn.settimeout(REQUEST_TIMEOUT)
    req = shim_wire.loads(_read_line(conn) or b"null")
    argv = [str(a) for a in req["argv"]] if "call" not in req else []
    conn.sendall(shim_wire.line({"ack": os.getpid()}))
    if _read_line(conn).strip() != b"go":
        return 1  # the client gave up (and uses the exec path): create nothing
    conn.settimeout(None)
    import gc

    gc.enable()
    if "call" in req:
        return _one_call(conn, req)
    from hako.runtime import shim

    # The shim is a session leader now (an exec'd one forks once more): a terminal it
    # opened without O_NOCTTY would become its controlling tty. Every pty open in hako uses
    # O_NOCTTY (runtime/devices.py) and masters come over SCM_RIGHTS; keep it so.
    os.setsid()
    shim.run_here(argv, conn.detach())


def _one_call(conn, req: dict) -> int:  # pragma: no cover - runs in the zygote's child
    """``call``'s child: import the module, call the function, send ``{"result": ...}``."""
    import importlib

    module, function = (str(x) for x in req["call"])
    if module.split(".")[0] != "hako":
        raise ValueError(f"not one of hako's modules: {module}")
    sys.path[:0] = [str(p) for p in req.get("path") or ()]
    result = getattr(importlib.import_module(module), function)(*req.get("args") or ())
    conn.sendall(shim_wire.line({"result": result}))
    return 0
