"""Local terminal and hijacked-stream plumbing for run, start -a, attach and exec.

- :class:`RawTerminal` puts the local tty in raw mode (restored on exit) and forwards
  SIGWINCH to a resize callback;
- :func:`pump` copies local stdin → socket (half-closing with ``shutdown(SHUT_WR)`` at EOF)
  and socket → local stdout/stderr (demultiplexing frames unless TTY) until the daemon
  closes the stream.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from hako.client.streams import STDERR, FrameDecoder


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, cols) of the terminal on ``fd``, or None when it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


class RawTerminal:
    """Context manager: raw mode on stdin (when a tty) and SIGWINCH → ``on_resize``."""

    def __init__(self, fd: int, enable: bool, on_resize: Callable[[int, int], Any] | None):
        self.fd = fd
        self.enable = enable and os.isatty(fd)
        self.on_resize = on_resize
        self._saved = None
        self._old_handler = None

    def __enter__(self) -> "RawTerminal":
        if self.enable:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)  # keep typed-ahead input, as docker
        if self.on_resize is not None and threading.current_thread() is threading.main_thread():
            self._old_handler = signal.signal(signal.SIGWINCH, lambda *_: self.resize())
        return self

    def resize(self) -> None:
        size = terminal_size(sys.stdout.fileno()) or terminal_size(self.fd)
        if size and self.on_resize is not None:
            try:
                self.on_resize(*size)
            except Exception:  # resize is best effort, like docker's
                pass

    def __exit__(self, *exc: Any) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGWINCH, self._old_handler)
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _stdin_loop(sock: socket.socket, fd: int) -> None:
    try:
        while True:
            data = os.read(fd, 32768)
            if not data:
                break
            sock.sendall(data)
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def pump(hijacked: Any, stdin_fd: int | None, stdout_fd: int, stderr_fd: int,
         tty: bool) -> None:
    """Copy streams until the daemon closes the connection.

    Args:
        hijacked: a :class:`hako.client.transport.Hijacked`.
        stdin_fd: local stdin to forward, or None not to send stdin.
        tty: the stream is raw (no multiplexing).
    """
    sock = hijacked.sock
    if stdin_fd is not None:
        threading.Thread(target=_stdin_loop, args=(sock, stdin_fd), daemon=True).start()
    decoder = FrameDecoder()

    def emit(data: bytes) -> None:
        if tty:
            _write_all(stdout_fd, data)
            return
        for stream, payload in decoder.feed(data):
            _write_all(stderr_fd if stream == STDERR else stdout_fd, payload)

    if hijacked.buffered:
        emit(hijacked.buffered)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            emit(data)
    except OSError:
        pass
    finally:
        hijacked.close()
