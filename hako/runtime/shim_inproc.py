"""hako's own runtime run by the shim without exec-ing a CLI.

Layer: runtime (3). May import: hako.runtime.cli (when a call is made), shim_runtime.

When the shim's runtime is hakod's lean ``hako-runtime`` wrapper for this interpreter and
this package (``is_own_runtime``), running the wrapper would only start the same Python to
import the same code. The shim instead:

- forks and calls ``hako.runtime.cli.main`` in the child for ``create``, ``start`` (opening
  ``exec.fifo``), ``exec`` and ``kill`` (``fork_call``): the child gets the stdio the command
  would get and closes every other fd, as exec would (the shim's fds are close-on-exec), so
  what the runtime does to its own process (entering a pid namespace, the subreaper bit,
  open fds, imports) never reaches the shim; the container's init is re-parented to the
  shim (a subreaper) as with runc. In a shim forked by the zygote the runtime is already
  imported, so the child starts running it at once;
- calls it in its own process for ``delete`` (``in_process``), which the shim runs just
  before it exits.

``start`` is not run in the shim's own process although it could be: calling the runtime
there touches (and so copies) the pages of the runtime's objects it shares with the zygote,
+0.45 MiB PSS per running container (3.17 against 2.72 MiB with 10 containers), to save one
fork of about a millisecond.

runc, crun and any ``--add-runtime`` keep the CLI path (``shim_runtime.run`` execs them).
"""

from __future__ import annotations

import os
import sys

from hako.runtime.forked import run_and_exit

_IN_PROCESS = ("delete",)
_BOOL_FLAGS = ("--debug", "--systemd-cgroup")


def is_own_runtime(path: str) -> bool:
    """True when ``path`` is hakod's lean hako-runtime wrapper (``shimclient.fast_runtime``)
    for this interpreter and this hako package, so running it in-process is the same code.
    (Checked without importing shimclient: socket and subprocess cost the shim ~15 ms.)"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(path) as f:
            text = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return (text.startswith(f"#!{sys.executable} -S\n") and f"sys.path.insert(0, {root!r})\n" in text
            and "\nfrom hako.runtime.cli import main\nsys.exit(main())\n" in text)


def command_of(args: list[str]) -> str:
    """The runtime command in a ``hako-runtime`` argument list (after the global flags)."""
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith("-"):
            return word
        i += 1 if "=" in word or word in _BOOL_FLAGS else 2
    return ""


def wants_in_process(args: list[str]) -> bool:
    """Whether a call runs in the shim's own process (see the module docstring)."""
    return command_of(args) in _IN_PROCESS


def in_process(args: list[str]) -> tuple[int, bytes]:
    """Run ``hako-runtime ARGS`` in this process; its stderr is captured.

    Returns:
        (exit code, what it wrote to stderr).
    """
    import io

    from hako.runtime.cli import main

    saved, sys.stderr = sys.stderr, io.StringIO()
    try:
        rc = main(args)
    finally:
        err, sys.stderr = sys.stderr.getvalue(), saved
    return rc, err.encode("utf-8", "replace")


def fork_call(args: list[str], stdio: tuple[int, int, int]) -> int:
    """Fork a child that runs ``hako-runtime ARGS`` with ``stdio`` as its fds 0, 1, 2.

    Returns:
        The child's pid (the caller waits for it).
    """
    pid = os.fork()
    if pid != 0:
        return pid
    run_and_exit(lambda: _child(args, stdio), "hako-runtime")  # pragma: no cover - the child


def _child(args: list[str], stdio: tuple[int, int, int]) -> int:  # pragma: no cover - forked
    import _signal

    _signal.set_wakeup_fd(-1)
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # the runtime waits for its children
    for i, fd in enumerate(stdio):
        if fd != i:
            os.dup2(fd, i)
        else:
            os.set_inheritable(fd, True)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the streams of fds 1 and 2,
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - whatever sys had before
    from hako.runtime.cli import main

    code = main(args)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code
