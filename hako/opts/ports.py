"""Published ports: ``-p [ip:][hostPort:]containerPort[/proto]`` with ranges, and ``--expose``.

Follows go-connections ``nat.ParsePortSpec``: ``8080:80``, ``127.0.0.1:8080:80/udp``,
``127.0.0.1::80``, ``[::1]:80:80``, ``8000-8001:80-81`` and a host range for a single
container port (``8000-8010:80``, the daemon picks one).
"""

from __future__ import annotations

from dataclasses import dataclass

from hako.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PortBinding:
    """One container port and where it is published (host_port "" = any)."""

    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: str = ""

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"


def _range(text: str, what: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    try:
        start = int(lo)
        end = int(hi) if sep else start
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what}: {text}") from exc
    if not (0 <= start <= 65535 and 0 <= end <= 65535) or end < start:
        raise InvalidArgument(f"invalid {what}: {text}")
    return start, end


def _split_ip(spec: str) -> tuple[str, str]:
    """Split off a leading host IP; returns (ip, rest)."""
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise InvalidArgument(f"invalid IP address: {spec}")
        ip, rest = spec[1:end], spec[end + 1 :]
        return ip, rest.removeprefix(":")
    parts = spec.split(":")
    if len(parts) == 3:
        return parts[0], ":".join(parts[1:])
    if len(parts) > 3:  # bare IPv6 address
        return ":".join(parts[:-2]), ":".join(parts[-2:])
    return "", spec


def parse_publish(spec: str) -> list[PortBinding]:
    """Parse one ``-p`` value into bindings.

    Raises:
        InvalidArgument: docker's messages for bad ports, protocols and ranges.
    """
    body, _, proto = spec.rpartition("/") if "/" in spec else (spec, "", "tcp")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    ip, rest = _split_ip(body)
    host, sep, container = rest.rpartition(":")
    if not sep:
        host, container = "", rest
    if not container:
        raise InvalidArgument(f"no port specified: {spec}<empty>")
    c_lo, c_hi = _range(container, "containerPort")
    if host:
        h_lo, h_hi = _range(host, "hostPort")
        if c_lo != c_hi and (h_hi - h_lo) != (c_hi - c_lo):
            raise InvalidArgument(
                f"invalid ranges specified for container and host Ports: {container} and {host}"
            )
    out = []
    for i, port in enumerate(range(c_lo, c_hi + 1)):
        if not host:
            hp = ""
        elif c_lo == c_hi and h_lo != h_hi:
            hp = f"{h_lo}-{h_hi}"
        else:
            hp = str(h_lo + i)
        out.append(PortBinding(port, proto, ip, hp))
    return out


def parse_expose(spec: str) -> list[str]:
    """``--expose 80``, ``80/udp`` or ``8000-8002`` → port keys ("80/tcp").

    Raises:
        InvalidArgument: a bad port or protocol.
    """
    body, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    lo, hi = _range(body, "range format for --expose specified")
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def to_port_map(bindings: list[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """Bindings → Engine API ``HostConfig.PortBindings``."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": b.host_port})
    return out
