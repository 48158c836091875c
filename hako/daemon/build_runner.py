"""The builder's Runner: RUN steps as real containers through ContainerService.

``create`` makes an ordinary container from the step's config (its snapshot is what the
builder commits), ``start_and_wait`` attaches to its output before starting it and feeds
every chunk to the build stream, then waits for the exit; ``remove`` deletes it. The
builder runs in a thread of the build pool (``hako.daemon.pools``, never the loop's default
executor, whose threads the container service needs while the builder waits); the container
service lives on the event loop, so the async calls are handed to the loop and awaited from
the thread.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

_OUTPUT_GRACE = 10.0
_CANCEL_POLL = 0.2  # how often a running step looks whether its build's client left
log = logging.getLogger(__name__)


class _OutputSink:
    """A pending attach (``connect(handle)`` before start) that forwards stdout/stderr."""

    def __init__(self, output: Callable[[bytes, bool], None]) -> None:
        self.output = output
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    async def connect(self, handle: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = await loop.run_in_executor(None, handle.attach, False, True, True)
        except Exception:  # noqa: BLE001 - no output is better than no build
            self.done.set_result(None)
            return
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        task = asyncio.ensure_future(self._pump(reader, writer))
        task.add_done_callback(lambda _: self.done.done() or self.done.set_result(None))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(8)
                size = struct.unpack(">L", header[4:])[0]
                payload = await reader.readexactly(size) if size else b""
                if payload:
                    self.output(payload, header[0] == 2)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


class ContainerRunner:
    """``hako.build.builder.Runner`` on top of a ContainerService."""

    def __init__(self, containers: Any, loop: asyncio.AbstractEventLoop,
                 cancelled: Any = None) -> None:
        self.containers = containers
        self.loop = loop
        self.cancelled = cancelled  # threading.Event: the build's client went away

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def create(self, config: dict[str, Any], host_config: dict[str, Any]) -> str:
        """Create the step's container. Returns its id."""
        body = dict(config)
        body["HostConfig"] = {k: v for k, v in host_config.items() if v is not None}
        cid, _ = self.containers.create(None, body)
        return cid

    def start_and_wait(self, container_id: str, output: Callable[[bytes, bool], None]) -> int:
        """Start with output attached; block until it exits and its output is drained.

        Returns:
            The exit code.
        """
        return self._call(self._start_and_wait(container_id, output))

    async def _start_and_wait(self, container_id: str, output: Callable[[bytes, bool], None]) -> int:
        svc = self.containers
        c = svc.get(container_id)
        sink = _OutputSink(output)
        svc.add_pending_attach(c, sink)
        waiter = svc.wait_future(container_id, "next-exit")
        try:
            await svc.start(container_id)
        except BaseException:
            svc.drop_pending_attach(c, sink)
            if waiter is not None and not waiter.done():
                waiter.cancel()
            raise
        if waiter is not None:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=_CANCEL_POLL)
                if self.cancelled is not None and self.cancelled.is_set() and not waiter.done():
                    await self._kill(container_id)
                    await waiter
                    from hako.build.builder import BuildCancelled

                    raise BuildCancelled()
        try:
            await asyncio.wait_for(asyncio.shield(sink.done), _OUTPUT_GRACE)
        except asyncio.TimeoutError:
            pass
        async with svc.settled(c):  # the step's commit reads the upper dir: unshifted, unmounted
            return int(svc.get(container_id).state.exit_code)

    async def _kill(self, container_id: str) -> None:
        try:
            await self.containers.kill(container_id, "SIGKILL")
        except Exception as exc:  # noqa: BLE001 - it may have exited meanwhile
            log.debug("kill of cancelled build step %s: %s", container_id[:12], exc)

    def remove(self, container_id: str) -> None:
        """Remove the container (and its snapshot)."""
        self._call(self.containers.remove(container_id, force=True))
