"""conmon's attach socket, presented as the Python shim's attach stream.

Layer: runtime (3). May import: hako.runtime.shim_wire.

conmon's ``attach`` is a SEQPACKET socket: each packet from conmon is one byte naming the
pipe (2 stdout, 3 stderr) and the data; each packet to conmon is container stdin; a
client's EOF (or close) closes the container's stdin unless conmon runs with
``--leave-stdin-open``; conmon closes the connection once the process exited and its
output was drained.

``open_stream`` returns one end of a socketpair speaking the Python shim's attach protocol
(Docker's 8-byte frame headers out, raw stdin in, half-close is stdin EOF) and pumps
between the two in a thread, so that the daemon's attach code serves both shims.
"""

from __future__ import annotations

import select
import socket
import threading

from hako.runtime import shim_wire
from hako.support.unixsock import connect_unix

_PACKET = 8192 + 1  # conmon's STDIO_BUF_SIZE plus its pipe byte
_STDIN_CHUNK = 4096  # below conmon's read buffer: a SEQPACKET read never truncates
_STREAMS = {2: shim_wire.STDOUT, 3: shim_wire.STDERR}


def connect(path: str) -> socket.socket:
    """Connect to a SEQPACKET socket, even when its path is longer than sun_path allows.

    Raises:
        OSError: nothing listens there.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    connect_unix(sock, path)
    return sock


def open_stream(path: str, stdin: bool, stdout: bool, stderr: bool,
                before_close=None) -> socket.socket:
    """Attach to conmon at ``path``; returns the daemon's end of a framed stream.

    Args:
        path: conmon's attach socket.
        stdin: forward bytes written to the stream as container stdin (EOF closes it).
        stdout: frame stdout.
        stderr: frame stderr.
        before_close: called (in the pump thread) when conmon closed the connection, before
            the stream closes: conmon closes it before it writes the exit file, while the
            stream's end promises an exit record (as the Python shim's does).

    Raises:
        OSError: conmon is not listening.
    """
    conmon = connect(path)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    streams = {s for s, on in ((shim_wire.STDOUT, stdout), (shim_wire.STDERR, stderr)) if on}
    threading.Thread(target=_pump, args=(conmon, theirs, streams, stdin, before_close),
                     name="conmon-attach", daemon=True).start()
    return ours


def _pump(conmon: socket.socket, peer: socket.socket, streams: set, stdin: bool,
          before_close=None) -> None:
    """Copy conmon's packets to ``peer`` as frames and ``peer``'s bytes to conmon as stdin,
    until conmon closes or the peer goes away."""
    poller = select.poll()
    poller.register(conmon, select.POLLIN)
    poller.register(peer, select.POLLIN)
    peer_eof = False
    try:
        while True:
            for fd, events in poller.poll():
                if fd == conmon.fileno():
                    if not _from_conmon(conmon, peer, streams):
                        if before_close is not None:
                            before_close()
                        return
                elif peer_eof or not _from_peer(conmon, peer, stdin):
                    if peer_eof or not stdin or events & select.POLLHUP:
                        return  # the daemon closed its end
                    peer_eof = True  # half-close: stdin EOF, output goes on
                    conmon.shutdown(socket.SHUT_WR)
                    poller.modify(peer, 0)  # POLLHUP still tells the full close
    except OSError:
        return
    finally:
        conmon.close()
        peer.close()


def _from_conmon(conmon: socket.socket, peer: socket.socket, streams: set) -> bool:
    data = conmon.recv(_PACKET)
    if not data:
        return False
    stream = _STREAMS.get(data[0])
    if stream in streams and len(data) > 1:
        peer.sendall(shim_wire.frame(stream, data[1:]))
    return True


def _from_peer(conmon: socket.socket, peer: socket.socket, stdin: bool) -> bool:
    data = peer.recv(65536)
    if not data:
        return False
    if stdin:
        for i in range(0, len(data), _STDIN_CHUNK):
            conmon.sendall(data[i:i + _STDIN_CHUNK])
    return True
