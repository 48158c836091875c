"""What a client may ask of one endpoint (a container on a network): the ``EndpointSettings``
of ``NetworkingConfig.EndpointsConfig`` and of ``network connect``, checked as moby's
``validateEndpointSettings`` checks them, and the names a link gives on a user network.

``settings`` keeps, for one network, what the container record stores and inspect shows
before the container runs::

    {"IPAMConfig": {"IPv4Address", "IPv6Address", "LinkLocalIPs"} (given ones) or None,
     "Links": ["name:alias", ...] or None, "Aliases": [...] or None,
     "DriverOpts": {...} or None, "MacAddress": "" or the requested MAC}

Links on a user-defined network are moby's: no environment, no hosts line, only the alias
answered by the embedded DNS, for the linking container alone, with the address the target
container's name has on that network when the question comes (the target may not exist when
the link is made).

Layer: network (3). May import: errors, network.links.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from hako.errors import InvalidArgument
from hako.network.links import parse as parse_link

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def check_mac(mac: str) -> None:
    """Raises InvalidArgument: not a 6-byte colon-separated MAC address (moby's text)."""
    if mac and not _MAC.match(mac):
        raise InvalidArgument(f"{mac} is not a valid mac address")


def _addr(value: Any, version: int, what: str) -> str:
    try:
        ip = ipaddress.ip_address(str(value))
    except ValueError:
        raise InvalidArgument(f"invalid {what} address: {value}") from None
    if ip.version != version or ip.is_unspecified:
        raise InvalidArgument(f"invalid {what} address: {value}")
    return str(ip)


def ipam_config(value: Any) -> dict[str, Any] | None:
    """The given fields of ``IPAMConfig``, checked (moby's EndpointIPAMConfig.Validate).

    Raises:
        InvalidArgument: a malformed address.
    """
    if not value:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument("IPAMConfig must be an object")
    out: dict[str, Any] = {}
    if value.get("IPv4Address"):
        out["IPv4Address"] = _addr(value["IPv4Address"], 4, "IPv4")
    if value.get("IPv6Address"):
        out["IPv6Address"] = _addr(value["IPv6Address"], 6, "IPv6")
    lls = value.get("LinkLocalIPs") or []
    for ll in lls:
        try:
            if ipaddress.ip_address(str(ll)).is_unspecified:
                raise ValueError
        except ValueError:
            raise InvalidArgument(f"invalid link-local IP address: {ll}") from None
    if lls:
        out["LinkLocalIPs"] = [str(ll) for ll in lls]
    return out or None


def settings(config: dict[str, Any] | None, user_defined: bool) -> dict[str, Any]:
    """The settings to keep for one endpoint from a client's ``EndpointSettings``.

    Raises:
        InvalidArgument: moby's refusals: addresses or aliases on a built-in network, a
        malformed address, MAC or link. (Fields hako lacks are refused before, by
        daemon/fields.py; driver options that mean nothing to the bridge driver are only
        recorded, as by Docker's.)
    """
    config = config or {}
    ipam = ipam_config(config.get("IPAMConfig"))
    aliases = [str(a) for a in config.get("Aliases") or []]
    if not user_defined:
        if ipam and (ipam.get("IPv4Address") or ipam.get("IPv6Address")):
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        if aliases:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        if config.get("Links"):  # the docker CLI's text; legacy links are HostConfig.Links
            raise InvalidArgument("links are only supported for user-defined networks")
    links = [str(x) for x in config.get("Links") or []]
    for spec in links:
        parse_link(spec)
    mac = str(config.get("MacAddress") or "")
    check_mac(mac)
    opts = config.get("DriverOpts") or {}
    if not isinstance(opts, dict):
        raise InvalidArgument("DriverOpts must be a map of strings")
    return {"IPAMConfig": ipam, "Links": links or None, "Aliases": aliases or None,
            "DriverOpts": {str(k): str(v) for k, v in opts.items()} or None, "MacAddress": mac}


def link_target(links: list[str] | None, name: str) -> str:
    """The container name a link alias stands for (``name`` compared lowercase), or ""."""
    for spec in links or []:
        target, alias = parse_link(spec)
        if alias.lower() == name:
            return target.lower()
    return ""
