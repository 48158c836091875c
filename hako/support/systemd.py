"""The two systemd protocols a daemon speaks, written by hand (no libsystemd):

- **Readiness notification** (``sd_notify``): datagrams such as ``READY=1``, ``STOPPING=1``,
  ``WATCHDOG=1`` or ``STATUS=…`` sent to the unix socket named by ``$NOTIFY_SOCKET`` (a path, or
  an abstract name when it starts with ``@``). Without the variable nothing is sent.
- **Socket activation** (``sd_listen_fds``): when ``$LISTEN_PID`` is this process, the
  ``$LISTEN_FDS`` descriptors from 3 on are listening sockets handed over by the manager,
  named by ``$LISTEN_FDNAMES`` (colon-separated) when given.

Both read the environment once and remove the variables, so that processes the daemon starts
do not take the manager's sockets for theirs (``unset_environment=1`` in libsystemd).

Layer 1. May import: errors.
"""

from __future__ import annotations

import os
import socket

from hako.errors import InvalidArgument

LISTEN_FDS_START = 3


class Notifier:
    """Sends notifications to the manager, if there is one (``$NOTIFY_SOCKET``)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.pop("NOTIFY_SOCKET", "")
        usec = env.pop("WATCHDOG_USEC", "")
        pid = env.pop("WATCHDOG_PID", "")
        self.watchdog_usec = int(usec) if usec.isdigit() and (not pid or pid == str(os.getpid())) else 0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str, wait: float = 5.0) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when there is no manager or it failed.

        A manager that does not read its socket fills it (10 datagrams by default): the send
        then waits at most ``wait`` seconds (0: not at all, for watchdog pings, which the
        daemon's event loop sends and must never block on).
        """
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.settimeout(wait)
                s.sendto("\n".join(lines).encode(), target)
            return True
        except OSError:  # timeouts and a full queue (BlockingIOError) too
            return False

    def watchdog_interval(self) -> float:
        """Seconds between ``WATCHDOG=1`` pings (half the manager's timeout), 0 for none."""
        return self.watchdog_usec / 2e6 if self.address and self.watchdog_usec else 0.0


def listen_fds(environ: dict[str, str] | None = None) -> list[int]:
    """Sockets handed over by socket activation, in order (fd 3, 4, …); [] without any.

    Raises:
        InvalidArgument: ``$LISTEN_FDS`` is not a number.
    """
    env = os.environ if environ is None else environ
    pid, count = env.pop("LISTEN_PID", ""), env.pop("LISTEN_FDS", "")
    env.pop("LISTEN_FDNAMES", None)
    if not count or pid != str(os.getpid()):
        return []
    if not count.isdigit():
        raise InvalidArgument(f"LISTEN_FDS={count!r} is not a number of descriptors")
    fds = [LISTEN_FDS_START + i for i in range(int(count))]
    for fd in fds:
        os.set_inheritable(fd, False)
    return fds


def select_fds(address: str, fds: list[int]) -> list[int]:
    """dockerd's ``-H fd://[N]``: every activated socket, or the one with descriptor N.

    Raises:
        InvalidArgument: with dockerd's texts (no sockets, not a number, too few sockets).
    """
    if not fds:
        raise InvalidArgument("no sockets found via socket activation: make sure the service "
                              "was started by systemd")
    if address in ("", "*"):
        return list(fds)
    if not address.isdigit():
        raise InvalidArgument(f"failed to parse systemd fd address: should be a number: {address}")
    offset = int(address) - LISTEN_FDS_START
    if offset < 0 or offset >= len(fds):
        raise InvalidArgument("too few socket activated files passed in by systemd")
    return [fds[offset]]
