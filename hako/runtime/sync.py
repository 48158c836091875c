"""Parent↔child protocol of the runtime: typed JSON messages over a socketpair, fd passing.

Layer: runtime (3). May import: errors.

The create (or exec) process and the init child it forked talk over an AF_UNIX
SOCK_SEQPACKET socketpair, one JSON object per packet, ``{"type": ..., ...}``:

    parent → child  GO       the cgroup is applied, carry on with the namespaces
    child  → parent HOOKS    (only when the spec has hooks) mounts are set up, before
                             pivot_root: run prestart and createRuntime now
    parent → child  RESUME   {"state": ...}: they succeeded; the state document for the
                             createContainer and startContainer hooks the child runs
    child  → parent READY    setup done, args[0] resolved; about to block on exec.fifo
    child  → parent ERROR    {"message": ...}: setup failed, the child exits without execve

A child that dies without a message reads as an error (EOF) on the parent's side: setup
fails closed. ``send_fd``/``recv_fd`` carry a pty master over the console socket
(SCM_RIGHTS, one message, payload = the pty name), as runc does.
"""

from __future__ import annotations

import array
import json
import socket

GO = "go"
HOOKS = "hooks"
RESUME = "resume"
READY = "ready"
ERROR = "error"

_MAX = 65536


class SyncError(Exception):
    """The other side broke the protocol or went away."""


def socketpair() -> tuple[socket.socket, socket.socket]:
    """A connected SOCK_SEQPACKET pair (parent end, child end), both close-on-exec."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, kind: str, **fields: object) -> None:
    """Send one typed message.

    Args:
        sock: one end of the pair.
        kind: GO, READY or ERROR.
        fields: extra JSON-serialisable fields.
    """
    fields["type"] = kind
    sock.send(json.dumps(fields).encode())


def recv(sock: socket.socket, timeout: float | None = None) -> dict:
    """Receive one message.

    Returns:
        The decoded message dict (always has "type").
    Raises:
        SyncError: EOF (the peer exited) or garbage.
        TimeoutError: nothing arrived within ``timeout`` seconds.
    """
    sock.settimeout(timeout)
    try:
        data = sock.recv(_MAX)
    except socket.timeout as exc:
        raise TimeoutError("timed out waiting for the container init") from exc
    if not data:
        raise SyncError("container init exited without reporting")
    try:
        msg = json.loads(data)
    except ValueError as exc:
        raise SyncError(f"bad sync message {data[:80]!r}") from exc
    if not isinstance(msg, dict) or "type" not in msg:
        raise SyncError(f"bad sync message {data[:80]!r}")
    return msg


def expect(sock: socket.socket, kind: str, timeout: float | None = None) -> dict:
    """Receive one message and require its type to be ``kind``.

    Raises:
        SyncError: the peer sent ERROR (its message becomes ours), another type, or EOF.
    """
    msg = recv(sock, timeout)
    if msg["type"] == ERROR:
        raise SyncError(str(msg.get("message", "unknown error")))
    if msg["type"] != kind:
        raise SyncError(f"expected sync message {kind!r}, got {msg['type']!r}")
    return msg


def send_fd(sock: socket.socket, fd: int, name: str) -> None:
    """Send ``fd`` with SCM_RIGHTS in one message whose payload is ``name``."""
    fds = array.array("i", [fd])
    sock.sendmsg([name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])


def recv_fd(sock: socket.socket) -> tuple[int, str]:
    """Receive one fd sent by :func:`send_fd`.

    Returns:
        (fd, name).
    Raises:
        SyncError: the message carried no fd.
    """
    fds = array.array("i")
    msg, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_LEN(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise SyncError("console socket message carried no fd")
    return fds[0], msg.decode(errors="replace")
