"""Exec instances: create, start (attached or detached), inspect, resize.

An exec is prepared against the container's shim, which runs ``runtime exec`` in the
container's namespaces with the container's process settings (caps, rlimits, no_new_privs)
overridden by the exec's own (args, env, user, working dir, tty, privileged).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from hako.daemon.state import Container, Status
from hako.errors import Conflict, InvalidArgument, NotFound
from hako.support import ids


@dataclass
class ExecInstance:
    id: str
    container: Container
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    handle: Any = None
    started: bool = False
    done: asyncio.Future | None = field(default=None, repr=False)


class ExecService:
    def __init__(self, containers: Any) -> None:
        self.containers = containers
        self._execs: dict[str, ExecInstance] = {}

    def create(self, ref: str, body: dict[str, Any]) -> str:
        """Register an exec for a running container.

        Raises:
            Conflict: the container is not running or is paused. InvalidArgument: no Cmd.
        """
        c = self.containers.get(ref)
        _check_running(c)
        body = _canonical_keys(body)
        cmd = body.get("Cmd") or []
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidArgument("No exec command specified")
        if body.get("DetachKeys"):
            from hako.daemon.attach import parse_detach_keys

            parse_detach_keys(body["DetachKeys"])
        self._forget_removed()
        eid = ids.new_id()
        self._execs[eid] = ExecInstance(eid, c, dict(body, Cmd=cmd))
        return eid

    def _forget_removed(self) -> None:
        """Drop exec records of containers that no longer exist (Docker keeps an exec only as
        long as its container)."""
        live = {c.id for c in self.containers.list()}
        for eid in [e for e, inst in self._execs.items() if inst.container.id not in live]:
            del self._execs[eid]

    def get(self, eid: str) -> ExecInstance:
        """Raises NotFound with Docker's text."""
        inst = self._execs.get(eid)
        if inst is None:
            found = ids.match_prefix(eid, list(self._execs))
            inst = self._execs.get(found) if found else None
        if inst is None:
            raise NotFound(f"No such exec instance: {eid}")
        self._refresh(inst)
        return inst

    def _refresh(self, inst: ExecInstance) -> None:
        if inst.running and inst.handle is not None:
            status = inst.handle.exit_status()
            if status is not None:
                inst.running = False
                inst.exit_code = int(status.get("exit_code", 0))

    def process_spec(self, inst: ExecInstance) -> dict[str, Any]:
        """The OCI process for the exec: the container's, with the exec's overrides."""
        return exec_process(self.containers, inst.container, inst.config)

    async def start(self, eid: str, detach: bool, tty: bool | None = None) -> ExecInstance:
        """Prepare the exec in the shim and start it; returns the instance (handle set).

        Raises:
            Conflict: already started, or the container stopped meanwhile.
        """
        inst = self.get(eid)
        if inst.started:
            raise Conflict(f"Error: Exec command {eid} has already run")
        c = inst.container
        async with c.op_lock:  # no start, stop or rm halfway through: the bundle is stable
            if c.removed:
                raise NotFound(f"No such container: {c.id}")
            _check_running(c)
            shim = self.containers.shim(c)
            if shim is None:
                raise Conflict(f"Container {c.id} is not running")
            inst.started = True
            loop = asyncio.get_running_loop()
            use_tty = bool(inst.config.get("Tty"))  # the start body's Tty only picks the framing
            try:
                proc = await loop.run_in_executor(None, self.process_spec, inst)
                inst.handle = await loop.run_in_executor(
                    None, shim.exec, inst.id, proc, use_tty,
                    bool(inst.config.get("AttachStdin")) and not detach)
            except Exception:
                await self._not_running_or_raise(c)
                raise
        return inst

    async def _not_running_or_raise(self, c: Container) -> None:
        """After a failed exec step: Docker's 409 when the container's init is gone (it
        exited and the exit is being processed), else the caller re-raises the error."""
        alive = await asyncio.get_running_loop().run_in_executor(None, self.containers.init_alive, c)
        if not alive or not c.state.running:
            raise Conflict(f"Container {c.id} is not running") from None

    async def run(self, inst: ExecInstance) -> None:
        """Start the prepared exec process and record it as running.

        Raises:
            RuntimeFailed: the runtime could not start it; like Docker the exec then
            reports exit code 126.
        """
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, inst.handle.start)
        except Exception:
            inst.running, inst.exit_code = False, 126
            await self._not_running_or_raise(inst.container)
            raise
        inst.running = True
        inst.pid = getattr(inst.handle, "pid", 0) or 0

    async def wait_exit(self, inst: ExecInstance, timeout: float = 10.0) -> None:
        """After the output stream closed, wait for the exit status to be recorded."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        while inst.running and time.monotonic() < deadline:
            await loop.run_in_executor(None, self._refresh, inst)  # reads the exit record
            if inst.running:
                await asyncio.sleep(0.01)

    def resize(self, eid: str, height: int, width: int) -> None:
        inst = self.get(eid)
        if inst.handle is None:
            raise Conflict(f"Exec {eid} is not running")
        inst.handle.resize(height, width)

    def inspect(self, eid: str) -> dict[str, Any]:
        inst = self.get(eid)
        body = inst.config
        cmd = body["Cmd"]
        return {
            "ID": inst.id, "Running": inst.running, "ExitCode": inst.exit_code,
            "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                              "privileged": bool(body.get("Privileged")), "user": body.get("User") or ""},
            "OpenStdin": bool(body.get("AttachStdin")), "OpenStderr": bool(body.get("AttachStderr")),
            "OpenStdout": bool(body.get("AttachStdout")), "CanRemove": False,
            "ContainerID": inst.container.id, "DetachKeys": body.get("DetachKeys") or "",
            "Pid": inst.pid,
        }


def exec_process(containers: Any, c: Container, body: dict[str, Any]) -> dict[str, Any]:
    """The OCI process of an exec in ``c``: the container's own process (from its bundle's
    config.json: env, user, cwd, capabilities, rlimits) with the exec's Cmd, Tty, Env,
    WorkingDir, User and Privileged applied (blocking: reads the bundle).

    Args:
        containers: the ContainerService (for the bundle and rootfs paths).
        c: a running container.
        body: Docker's ExecConfig fields (``Cmd`` required).
    """
    bundle = containers.bundle(c)
    with open(os.path.join(bundle, "config.json")) as f:
        proc = dict(json.load(f)["process"])
    proc["args"] = list(body["Cmd"])
    proc["terminal"] = bool(body.get("Tty"))
    env = list(proc.get("env") or [])
    for item in body.get("Env") or []:
        key = item.split("=", 1)[0]
        env = [e for e in env if e.split("=", 1)[0] != key] + [item]
    proc["env"] = env
    if body.get("WorkingDir"):
        proc["cwd"] = body["WorkingDir"]
    if body.get("User"):
        from hako.daemon import bundle as bundlemod, users

        u = users.resolve(bundlemod.rootfs_dir(containers, c), body["User"])
        proc["user"] = {"uid": u.uid, "gid": u.gid, "additionalGids": list(u.additional_gids)}
    if body.get("Privileged"):
        from hako.runtime.capabilities import all_capabilities

        caps = all_capabilities()
        proc["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    proc.pop("consoleSize", None)
    return proc


def _check_running(c: Container) -> None:
    """Docker's checks before an exec (getActiveContainer).

    Raises:
        Conflict: not running, paused or restarting.
    """
    if not c.state.running or c.state.status == Status.REMOVING:
        raise Conflict(f"Container {c.id} is not running")
    if c.state.status == Status.PAUSED:
        raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
    if c.state.status == Status.RESTARTING:
        raise Conflict(f"Container {c.id} is restarting, wait until the container is running")


_EXEC_KEYS = ("User", "Privileged", "Tty", "ConsoleSize", "AttachStdin", "AttachStderr",
              "AttachStdout", "Detach", "DetachKeys", "Env", "WorkingDir", "Cmd")


def _canonical_keys(body: dict[str, Any]) -> dict[str, Any]:
    """Go's JSON decoder matches field names case-insensitively (docker-py sends
    ``detachKeys``); map such spellings onto Docker's ExecConfig names."""
    canon = {k.lower(): k for k in _EXEC_KEYS}
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = canon.get(key.lower(), key)
        if name not in out or key == name:
            out[name] = value
    return out
