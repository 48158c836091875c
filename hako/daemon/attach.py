"""Stdio plumbing between a hijacked API connection and a shim's attach socket.

The shim speaks Docker's multiplexed framing (8-byte header: stream, 0, 0, 0, uint32 BE size).
Without a TTY the frames go to the client unchanged; with a TTY the payloads are written raw.
Client bytes are container stdin, scanned for the detach key sequence (default ctrl-p,ctrl-q);
a client half-close becomes a half-close towards the shim (stdin EOF).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

from hako.errors import InvalidArgument

log = logging.getLogger("hako.attach")

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str | None) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11".

    Raises:
        InvalidArgument: Docker's ``Invalid detach keys (X) provided``.
    """
    spec = spec or DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in _SPECIAL:
                out.append(_SPECIAL[ch])
            else:
                raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


class AttachSession:
    """One client attached to one container (or exec) through its shim."""

    def __init__(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, *,
                 tty: bool, stdin: bool, stdout: bool, stderr: bool, detach_keys: bytes,
                 mux: bool = True) -> None:
        """``mux``: frame stdout/stderr with the 8-byte headers when there is no tty (the
        websocket attach never does: moby's MuxStreams false)."""
        self.cr, self.cw = client_reader, client_writer
        self.tty, self.stdin, self.stdout, self.stderr = tty, stdin, stdout, stderr
        self.mux = mux and not tty
        self.detach_keys = detach_keys
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self.detached = False
        self._tasks: list[asyncio.Task] = []

    async def connect(self, handle: Any) -> None:
        """Open the shim's attach socket and start pumping both ways."""
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(None, handle.attach, self.stdin, self.stdout, self.stderr)
        sock.setblocking(False)
        sr, sw = await asyncio.open_unix_connection(sock=sock)
        out_task = asyncio.create_task(self._pump_out(sr))
        in_task = asyncio.create_task(self._pump_in(sw)) if self.stdin else None
        # asyncio keeps only weak references to tasks: hold them, or a pump can be
        # garbage-collected mid-stream and the client never sees the end of the output.
        self._tasks = [t for t in (out_task, in_task) if t is not None]

        def finished(_: Any) -> None:
            if in_task is not None and not in_task.done():
                in_task.cancel()
            try:
                sw.close()
            except Exception:  # noqa: BLE001
                pass
            if not self.done.done():
                self.done.set_result(None)

        out_task.add_done_callback(finished)
        if in_task is not None:
            in_task.add_done_callback(lambda t: (not t.cancelled() and self.detached) and out_task.cancel())

    async def _pump_out(self, sr: asyncio.StreamReader) -> None:
        try:
            while True:
                header = await sr.readexactly(8)
                size = struct.unpack(">L", header[4:])[0]
                payload = await sr.readexactly(size) if size else b""
                self.cw.write(header + payload if self.mux else payload)
                await self.cw.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async def _pump_in(self, sw: asyncio.StreamWriter) -> None:
        keys, matched = self.detach_keys, 0
        try:
            while True:
                data = await self.cr.read(32768)
                if not data:
                    if sw.can_write_eof():
                        sw.write_eof()
                    return
                if keys:
                    out = bytearray()
                    for b in data:
                        if b == keys[matched]:
                            matched += 1
                            if matched == len(keys):
                                self.detached = True
                                sw.write(bytes(out))
                                await sw.drain()
                                return
                            continue
                        if matched:
                            out += keys[:matched]
                            matched = 0
                        out.append(b)
                    data = bytes(out)
                if data:
                    sw.write(data)
                    await sw.drain()
        except (ConnectionError, OSError):
            return


def log_frames(entries: Any, tty: bool) -> Any:
    """(stream, payload) pairs from the log reader → wire bytes for logs and attach replay."""
    for stream, payload in entries:
        yield payload if tty else frame(stream, payload)
