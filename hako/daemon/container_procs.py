"""A running container's processes: pause, unpause, top, pids, runtime calls, rename.

The ``ProcsMixin`` half of ``ContainerService``.

Layer: daemon (6).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from hako.daemon.state import Container, Status, validate_name
from hako.errors import Conflict, InvalidArgument

log = logging.getLogger("hako.containers")


class ProcsMixin:
    """pause, unpause, rename, top, pids and the runtime's one-shot commands."""

    async def pause(self, ref: str) -> None:
        """Freeze the container's processes.

        Raises:
            Conflict: not running, restarting, already paused (Docker's texts).
        """
        c, lock = await self._locked(ref)
        try:
            if c.state.status == Status.RESTARTING:
                raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
            if not c.state.running or c.id in self._dying or c.id in self._removing:
                raise Conflict(f"Container {c.id} is not running")
            if c.state.status == Status.PAUSED:
                raise Conflict(f"Container {c.id} is already paused")
            await self._runtime_or_not_running(c, "pause")
            c.transition(Status.PAUSED)
            self.health.update(c)  # a paused container is not probed
            await self._save(c)
            self._emit(c, "pause")
        finally:
            lock.release()

    async def unpause(self, ref: str) -> None:
        """Thaw a paused container.

        Raises:
            Conflict: the container is not paused.
        """
        c, lock = await self._locked(ref)
        try:
            if c.state.status != Status.PAUSED:
                raise Conflict(f"Container {c.id} is not paused")
            await self._runtime_or_not_running(c, "resume")
            c.transition(Status.RUNNING)
            self.health.update(c)
            await self._save(c)
            self._emit(c, "unpause")
        finally:
            lock.release()

    async def _runtime_or_not_running(self, c: Container, op: str) -> None:
        """Run ``runtime op``; when it fails because the container's init is gone (its exit
        is about to be processed), answer Docker's 409 instead of the runtime's error."""
        try:
            await self._runtime(c, op)
        except Exception:
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(None, self.init_alive, c):
                raise Conflict(f"Container {c.id} is not running") from None
            raise

    def init_alive(self, c: Container) -> bool:
        """Whether the container's init process still lives (not exited, not a zombie, not
        exiting: an exiting init has left its namespaces while it waits, not yet a zombie,
        for the other processes of its pid namespace to go)."""
        from hako.daemon import bundle

        if not c.state.pid or bundle.read_exit_status(self, c) is not None:
            return False
        try:
            with open(f"/proc/{c.state.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return False
            os.readlink(f"/proc/{c.state.pid}/ns/mnt")
        except (OSError, IndexError):
            return False
        return True

    async def _runtime(self, c: Container, *args: str) -> str:
        from hako.errors import RuntimeFailed

        binary = self.config.runtime_path(c.runtime)
        proc = await asyncio.create_subprocess_exec(
            binary, "--root", self.config.runtime_root, *args, c.id,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeFailed(err.decode(errors="replace").strip() or f"runtime {args[0]} failed")
        return out.decode(errors="replace")

    async def rename(self, ref: str, new_name: str) -> None:
        """Rename a container.

        Raises:
            InvalidArgument: empty or invalid name. AlreadyExists: the name is taken.
        """
        c, lock = await self._locked(ref)
        try:
            if not new_name:
                raise InvalidArgument("Neither old nor new names may be empty")
            new_name = validate_name(new_name)
            if new_name == c.name:
                raise InvalidArgument(f"Renaming a container with the same name as its current name")
            self.store.reserve_name(new_name, c.id)
            old = c.name
            c.name = new_name
            await self._save(c)
            self.store.release_name(old)
            self._emit(c, "rename", oldName="/" + old)
        finally:
            lock.release()

    def top(self, ref: str, ps_args: str = "") -> dict[str, Any]:
        """Processes of a running container, as ``ps`` on the host shows them.

        Raises:
            Conflict: the container is not running.
        """
        import subprocess

        c = self.get(ref)
        if not c.state.running:
            raise Conflict(f"Container {c.id} is not running")
        pids = set(self.pids(c))
        args = ps_args.split() if ps_args else ["-ef"]
        out = subprocess.run(["ps", *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise InvalidArgument(f"Error running ps: {out.stderr.strip()}")
        lines = out.stdout.splitlines()
        titles = lines[0].split()
        if "PID" not in titles:
            raise InvalidArgument(f"Couldn't find PID field in ps output")
        pid_col = titles.index("PID")
        procs = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
                procs.append(fields)
        return {"Titles": titles, "Processes": procs}

    def pids(self, c: Container) -> list[int]:
        """Pids in the container's cgroup (falls back to the init pid)."""
        try:
            from hako.runtime.cgroups.detect import new_manager

            found = new_manager(self.cgroups_path(c), c.id).pids()
            if found:
                return found
        except Exception as exc:  # noqa: BLE001 - cgroup may be gone
            log.debug("pids of %s: %s", c.id[:12], exc)
        return [c.state.pid] if c.state.pid else []

    def cgroups_path(self, c: Container) -> str:
        parent = c.host_config.get("CgroupParent") or self.config.cgroup_parent
        return f"{parent.rstrip('/')}/{c.id}"
