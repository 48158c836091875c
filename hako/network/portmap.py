"""Published ports: what a container asks for (PortBindings, PublishAllPorts with
ExposedPorts) and the host ports it gets.

Ephemeral host ports come from the kernel's local port range
(``/proc/sys/net/ipv4/ip_local_port_range``), handed out in order after the last one given,
as moby's portallocator does; a port another process holds is skipped.

Layer: network (3). May import: errors.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from hako.errors import InvalidArgument


def port_keys(exposed: dict[str, Any] | None, bindings: dict[str, Any] | None) -> list[str]:
    """Every port of the container (exposed or published), as "80/tcp", sorted."""
    keys = set(exposed or {}) | set(bindings or {})
    return sorted(keys, key=lambda k: (int(k.split("/")[0]), k))


def requested(exposed: dict[str, Any] | None, bindings: dict[str, Any] | None,
              publish_all: bool) -> dict[str, list[dict[str, str]]]:
    """The bindings to make: ``PortBindings`` plus, with ``-P``, every other exposed port on
    an ephemeral host port."""
    out = {k: list(v or [{"HostIp": "", "HostPort": ""}]) for k, v in (bindings or {}).items()}
    if publish_all:
        for key in exposed or {}:
            out.setdefault(_norm(key), [{"HostIp": "", "HostPort": ""}])
    return out


def _norm(key: str) -> str:
    return key if "/" in key else key + "/tcp"


def split_key(key: str) -> tuple[int, str]:
    port, _, proto = _norm(key).partition("/")
    try:
        return int(port), proto or "tcp"
    except ValueError:
        raise InvalidArgument(f"invalid port specification: \"{key}\"") from None


def local_port_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 49153, 65535


class PortAllocator:
    """Chooses host ports; ``try_bind(port)`` binds one or raises OSError-like errors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}

    def choose(self, spec: str, proto: str, try_bind: Callable[[int], Any]) -> tuple[int, Any]:
        """Bind ``spec`` ("" any, "N", or "A-B") with ``try_bind``; returns (port, its result).

        Raises:
            what ``try_bind`` raises for a fixed port; Conflict/InvalidArgument otherwise.
        """
        if spec and "-" not in spec:
            try:
                port = int(spec)
            except ValueError:
                raise InvalidArgument(f"invalid host port: {spec}") from None
            return port, try_bind(port)
        if spec:
            lo, _, hi = spec.partition("-")
            candidates = list(range(int(lo), int(hi) + 1))
        else:
            lo_r, hi_r = local_port_range()
            with self._lock:
                start = self._last.get(proto, lo_r - 1) + 1
            if start > hi_r:
                start = lo_r
            candidates = list(range(start, hi_r + 1)) + list(range(lo_r, start))
        error: Exception | None = None
        for port in candidates:
            try:
                result = try_bind(port)
            except Exception as exc:  # noqa: BLE001 - the port is taken: try the next
                error = exc
                continue
            if not spec:
                with self._lock:
                    self._last[proto] = port
            return port, result
        raise error or InvalidArgument("no host port available")
