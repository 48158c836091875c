"""`hako-runtime`: runc's command line over hako's own OCI runtime.

Layer: runtime (3), entrypoint. May import: errors, support, linux, runtime siblings.

    hako-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...

Commands: create, start, state, kill, delete, run, pause, resume, ps, list, exec (flags as
runc's). Errors go to stderr (and to --log) as logrus-style lines and exit 1. The parser
is hand-rolled because start latency is a product figure (argparse costs milliseconds).
"""

from __future__ import annotations

import os
import sys

from hako.errors import EngineError, InvalidArgument

DEFAULT_ROOT = "/run/hako-runtime"

# command -> {flag: (dest, kind)}; kind: "bool", "value" or "list".
_B, _V, _L = "bool", "value", "list"
COMMANDS: dict[str, dict[str, tuple[str, str]]] = {
    "create": {"--bundle": ("bundle", _V), "-b": ("bundle", _V), "--pid-file": ("pid_file", _V),
               "--console-socket": ("console_socket", _V), "--no-pivot": ("no_pivot", _B),
               "--no-new-keyring": ("no_new_keyring", _B), "--preserve-fds": ("pfds", _V)},
    "run": {"--bundle": ("bundle", _V), "-b": ("bundle", _V), "--pid-file": ("pid_file", _V),
            "--console-socket": ("console_socket", _V), "--no-pivot": ("no_pivot", _B),
            "--detach": ("detach", _B), "-d": ("detach", _B),
            "--no-new-keyring": ("no_new_keyring", _B), "--keep": ("keep", _B)},
    "start": {}, "state": {}, "pause": {}, "resume": {},
    "kill": {"--all": ("all", _B), "-a": ("all", _B)},
    "delete": {"--force": ("force", _B), "-f": ("force", _B)},
    "ps": {"--format": ("format", _V), "-f": ("format", _V)},
    "list": {"--format": ("format", _V), "-f": ("format", _V), "--quiet": ("quiet", _B),
             "-q": ("quiet", _B)},
    "exec": {"--process": ("process", _V), "-p": ("process", _V), "--detach": ("detach", _B),
             "-d": ("detach", _B), "--pid-file": ("pid_file", _V), "--tty": ("tty", _B),
             "-t": ("tty", _B), "--console-socket": ("console_socket", _V),
             "--cwd": ("cwd", _V), "--env": ("env", _L), "-e": ("env", _L),
             "--user": ("user", _V), "-u": ("user", _V), "--cap": ("cap", _L),
             "-c": ("cap", _L), "--no-new-privs": ("no_new_privs", _B)},
}
GLOBAL = {"--root": ("root", _V), "--log": ("log", _V), "--log-format": ("log_format", _V),
          "--debug": ("debug", _B), "--systemd-cgroup": ("systemd_cgroup", _B),
          "--rootless": ("rootless", _V), "--criu": ("criu", _V)}
USAGE = ("usage: hako-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] "
         "COMMAND [OPTIONS] ID\ncommands: " + ", ".join(COMMANDS))


def parse_flags(argv: list[str], table: dict, stop_at_positional: bool) -> tuple[dict, list]:
    """Parse ``--flag value``, ``--flag=value`` and booleans per ``table``.

    Args:
        argv: the words to parse.
        table: flag → (dest, kind).
        stop_at_positional: stop at the first positional (global flags; exec's args).
    Returns:
        (values by dest, remaining positionals).
    Raises:
        InvalidArgument: unknown flag or a missing value.
    """
    values: dict = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            rest.extend(argv[i + 1:])
            break
        if not word.startswith("-") or word == "-":
            if stop_at_positional:
                rest.extend(argv[i:])
                break
            rest.append(word)
            i += 1
            continue
        name, eq, inline = word.partition("=")
        if name not in table:
            raise InvalidArgument(f"flag provided but not defined: {name}")
        dest, kind = table[name]
        if kind == _B:
            values[dest] = inline.lower() not in ("false", "0") if eq else True
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: {name}")
                inline = argv[i]
            if kind == _L:
                values.setdefault(dest, []).append(inline)
            else:
                values[dest] = inline
        i += 1
    return values, rest


class Log:
    """Minimal logrus-compatible logger: errors to stderr and --log, debug when --debug."""

    def __init__(self, path: str = "", fmt: str = "text", debug: bool = False) -> None:
        self.path, self.fmt, self.enabled = path, fmt, debug

    def _line(self, level: str, msg: str) -> str:
        import time

        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            import json

            return json.dumps({"level": level, "msg": msg, "time": now})
        escaped = msg.replace("\\", "\\\\").replace('"', '\\"')
        return f'time="{now}" level={level} msg="{escaped}"'

    def _write_file(self, line: str) -> None:
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")

    def debug(self, msg: str) -> None:
        """Log at debug level (only with --debug)."""
        if self.enabled:
            line = self._line("debug", msg)
            self._write_file(line)
            if not self.path:
                sys.stderr.write(line + "\n")

    def error(self, msg: str) -> None:
        """Log an error to stderr and the log file."""
        line = self._line("error", msg)
        self._write_file(line)
        sys.stderr.write(self._line("error", msg) if self.fmt == "text" else msg)
        sys.stderr.write("\n")
        sys.stderr.flush()


def _need_id(cmd: str, rest: list[str], max_args: int = 1) -> str:
    if not rest:
        raise InvalidArgument(f'"{cmd}" requires a container id')
    if len(rest) > max_args:
        raise InvalidArgument(f'"{cmd}" takes at most {max_args} arguments, got {len(rest)}')
    return rest[0]


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the process exit code (also exits with it when run as a script)."""
    argv = sys.argv[1:] if argv is None else argv
    log = Log()
    cmd = "hako-runtime"
    try:
        gflags, rest = parse_flags(argv, GLOBAL, stop_at_positional=True)
        log = Log(gflags.get("log", ""), gflags.get("log_format", "text"),
                  gflags.get("debug", False))
        if gflags.get("systemd_cgroup"):
            raise InvalidArgument("--systemd-cgroup is not supported by hako-runtime "
                                  "(no systemd): use cgroupfs paths")
        if not rest or rest[0] not in COMMANDS:
            sys.stderr.write(USAGE + "\n")
            return 0 if not rest or rest[0] in ("help", "--help", "-h") else 1
        cmd = rest[0]
        flags, args = parse_flags(rest[1:], COMMANDS[cmd], stop_at_positional=cmd == "exec")
        root = os.path.abspath(gflags.get("root", DEFAULT_ROOT))
        handler = globals()["cmd_" + cmd]
        return handler(root, flags, args, log)
    except EngineError as exc:
        prefix = f"{cmd} failed: " if cmd in ("create", "run", "exec", "start") else ""
        log.error(prefix + str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # never a traceback: one line naming what failed, exit 1
        what = f" ({exc.filename})" if exc.filename else ""
        log.error(f"{cmd} failed: {exc.strerror or exc}{what}")
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug still gets one line and exit 1
        log.error(f"{cmd} failed: internal error: {exc!r}")
        return 1


# Command handlers: (root, flags, positionals, log) -> exit code.


def cmd_create(root: str, flags: dict, args: list, log: Log) -> int:
    """`create [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot] ID`."""
    from hako.runtime.process import create

    cid = _need_id("create", args)
    create(_create_options(root, cid, flags), log.debug)
    return 0


def _create_options(root: str, cid: str, flags: dict):
    from hako.runtime.process import CreateOptions

    return CreateOptions(root, cid, flags.get("bundle") or os.getcwd(),
                         flags.get("pid_file", ""), flags.get("console_socket", ""),
                         flags.get("no_pivot", False))


def cmd_run(root: str, flags: dict, args: list, log: Log) -> int:
    """`run [create flags] [--detach] ID`: create + start, then wait unless detached."""
    from hako.runtime import process
    from hako.runtime.container import load

    cid = _need_id("run", args)
    c, pid = process.create(_create_options(root, cid, flags), log.debug)
    try:
        process.start(c)
    except BaseException:
        _destroy(load(root, cid), log, force=True)
        raise
    if flags.get("detach"):
        return 0
    process.forward_signals(pid)
    code = process.wait_exit_code(pid)
    if not flags.get("keep"):
        _destroy(load(root, cid), log, force=True)
    return code


def cmd_start(root: str, flags: dict, args: list, log: Log) -> int:
    """`start ID`: release the init from exec.fifo."""
    from hako.runtime import process
    from hako.runtime.container import load

    process.start(load(root, _need_id("start", args)))
    return 0


def cmd_state(root: str, flags: dict, args: list, log: Log) -> int:
    """`state ID`: print the OCI state JSON."""
    import json

    from hako.runtime.container import load

    doc = load(root, _need_id("state", args)).oci_state()
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def cmd_kill(root: str, flags: dict, args: list, log: Log) -> int:
    """`kill [--all] ID [SIGNAL]` (default SIGTERM)."""
    from hako.errors import Conflict
    from hako.runtime.container import Status, load
    from hako.runtime.validate import parse_signal

    cid = _need_id("kill", args, 2)
    signum = parse_signal(args[1]) if len(args) > 1 else 15
    c = load(root, cid)
    if c.current_status() == Status.STOPPED and not flags.get("all"):
        raise Conflict("container not running")
    if flags.get("all"):
        _signal_all(c, signum, log)
    else:
        os.kill(c.pid, signum)
    return 0


def _signal_all(c, signum: int, log: Log) -> None:
    from hako.runtime.process import cgroup_manager

    mgr = cgroup_manager(c.cgroups_path, c.id, log.debug)
    pids = mgr.pids() if mgr is not None else [c.pid]
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def cmd_delete(root: str, flags: dict, args: list, log: Log) -> int:
    """`delete [--force] ID`: remove a stopped (or created, or --force running) container."""
    from hako.errors import Conflict, ContainerNotFound
    from hako.runtime.container import Status, load

    cid = _need_id("delete", args)
    try:
        c = load(root, cid)
    except ContainerNotFound:
        if flags.get("force"):
            return 0
        raise
    status = c.current_status()
    if status in (Status.RUNNING, Status.PAUSED) and not flags.get("force"):
        raise Conflict(f"cannot delete container {cid} that is not stopped: {status.value}")
    _destroy(c, log, force=True)
    return 0


def _destroy(c, log: Log, force: bool) -> None:
    """Kill the init if alive, wait for it, remove the cgroup and the state dir."""
    from hako.runtime.container import Status, remove_state
    from hako.runtime.process import cgroup_manager

    mgr = cgroup_manager(c.cgroups_path, c.id, log.debug)
    if c.current_status() != Status.STOPPED:
        if mgr is not None and c.current_status() == Status.PAUSED:
            mgr.thaw()
        _kill_wait(c.pid)
    if mgr is not None:
        mgr.destroy()
    remove_state(c)
    if c.config.get("hooks"):
        from hako.runtime import hooks
        from hako.runtime.process import stderr_warning

        hooks.run_stage_logged(c.config, "poststop",
                               hooks.state(c.config, c.id, "stopped", 0, c.bundle),
                               stderr_warning)


def _kill_wait(pid: int, timeout: float = 10.0) -> None:
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import signal

        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        select.select([pidfd], [], [], timeout)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


def cmd_pause(root: str, flags: dict, args: list, log: Log) -> int:
    """`pause ID`: freeze the container's cgroup."""
    return _freeze(root, _need_id("pause", args), log, freeze=True)


def cmd_resume(root: str, flags: dict, args: list, log: Log) -> int:
    """`resume ID`: thaw the container's cgroup."""
    return _freeze(root, _need_id("resume", args), log, freeze=False)


def _freeze(root: str, cid: str, log: Log, freeze: bool) -> int:
    from hako.errors import Conflict, Unsupported
    from hako.runtime.container import Status, load
    from hako.runtime.process import cgroup_manager

    c = load(root, cid)
    status = c.current_status()
    if freeze and status != Status.RUNNING:
        raise Conflict(f"container not running")
    if not freeze and status != Status.PAUSED:
        raise Conflict("container not paused")
    mgr = cgroup_manager(c.cgroups_path, c.id, log.debug)
    if mgr is None:
        raise Unsupported("pause needs the cgroup freezer, which is not available")
    if freeze:
        mgr.freeze()
    else:
        mgr.thaw()
    c.transition(Status.PAUSED if freeze else Status.RUNNING)
    c.save()
    return 0


def cmd_ps(root: str, flags: dict, args: list, log: Log) -> int:
    """`ps [--format table|json] ID`: the pids in the container's cgroup."""
    import json

    from hako.runtime.container import load
    from hako.runtime.process import cgroup_manager

    c = load(root, _need_id("ps", args, 1))
    mgr = cgroup_manager(c.cgroups_path, c.id, log.debug)
    pids = sorted(mgr.pids()) if mgr is not None else [c.pid]
    if flags.get("format") == "json":
        sys.stdout.write(json.dumps(pids) + "\n")
        return 0
    from hako.linux import proc

    sys.stdout.write("PID    CMD\n")
    for pid in pids:
        fields = proc.read_stat(pid)
        sys.stdout.write(f"{pid:<6} {fields[1] if fields else '?'}\n")
    return 0


def cmd_list(root: str, flags: dict, args: list, log: Log) -> int:
    """`list [--format table|json] [-q]`."""
    import json

    from hako.errors import NotFound
    from hako.runtime.container import list_ids, load

    states = []
    for cid in list_ids(root):
        try:
            states.append(load(root, cid).oci_state())
        except NotFound:
            continue
    if flags.get("quiet"):
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif flags.get("format") == "json":
        sys.stdout.write(json.dumps(states or None) + "\n")
    else:
        sys.stdout.write(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} CREATED  OWNER\n")
        for s in states:
            sys.stdout.write(f"{s['id']:<20} {s['pid']:<8} {s['status']:<10} "
                             f"{s['bundle']:<40} {s['created']}  root\n")
    return 0


def cmd_exec(root: str, flags: dict, args: list, log: Log) -> int:
    """`exec [flags] ID [ARGS...]`."""
    from hako.runtime.process import ExecOptions, exec_process

    cid = _need_id("exec", args, max_args=len(args) or 1)
    if len(args) < 2 and not flags.get("process"):
        raise InvalidArgument("exec args cannot be empty")
    opts = ExecOptions(root, cid, tuple(args[1:]), flags.get("process", ""),
                       flags.get("detach", False), flags.get("pid_file", ""),
                       flags.get("tty", False), flags.get("console_socket", ""),
                       flags.get("cwd", ""), tuple(flags.get("env", ())), flags.get("user", ""))
    return exec_process(opts, log.debug)


if __name__ == "__main__":
    sys.exit(main())
