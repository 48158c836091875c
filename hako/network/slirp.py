"""Host ports of a rootless hakod: slirp4netns's API (``add_hostfwd``/``remove_hostfwd``).

A rootless hakod lives in a network namespace of its own, whose only way out is
slirp4netns's tap device. A published port is bound in that netns as usual (the userland
proxy, the DNAT rules); slirp4netns then listens on the host at the binding's address and
port and forwards each connection to the same port of the netns's tap address.

Layer: network (3). May import: errors.
"""

from __future__ import annotations

import json
import socket

from hako.errors import Internal

GUEST_IP = "10.0.2.100"


def _call(api: str, request: dict) -> dict:
    """One request, one JSON answer (slirp4netns closes the connection after it).

    Raises:
        Internal: no answer, or slirp4netns's error text.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        try:
            sock.connect(api)
            sock.sendall(json.dumps(request).encode())
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        except OSError as exc:
            raise Internal(f"slirp4netns API {api}: {exc.strerror or exc}") from None
    try:
        answer = json.loads(data or b"{}")
    except ValueError:
        raise Internal(f"slirp4netns API {api}: unreadable answer {data[:80]!r}") from None
    if "error" in answer:
        raise Internal(f"slirp4netns: {answer['error'].get('desc') or answer['error']}")
    return answer.get("return") or {}


def add(api: str, host_ip: str, port: int, proto: str, endpoint: str) -> int:
    """Forward ``host_ip:port`` on the host to the netns's tap address; the rule's id.

    Raises:
        Internal: Docker's text for a port another process holds on the host.
    """
    try:
        ret = _call(api, {"execute": "add_hostfwd", "arguments": {
            "proto": proto, "host_addr": host_ip, "host_port": port,
            "guest_addr": GUEST_IP, "guest_port": port}})
    except Internal as exc:
        raise Internal(f"driver failed programming external connectivity on endpoint {endpoint}: "
                       f"Bind for {host_ip}:{port} failed on the host: {exc}") from None
    return int(ret.get("id", -1))


def remove(api: str, rule: int) -> None:
    """Drop a forward made by ``add`` (a vanished slirp4netns has none left)."""
    try:
        _call(api, {"execute": "remove_hostfwd", "arguments": {"id": rule}})
    except Internal:
        pass
