"""User-defined bridge networks: records, lookup, validation and subnet choice.

Persisted in ``<root>/networks.json`` (``schema_version`` 1) with the ids of the built-in
networks::

    {"ids": {"bridge": id, "host": id, "none": id},
     "networks": {<id>: {"Name", "Id", "Created", "Driver", "Internal", "Attachable",
                         "Labels", "Options", "IPAM": {"Driver", "Options", "Config"},
                         "EnableIPv6", "Device": "br-<id12>"}}}

Layer: network (3). May import: errors, support.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
from typing import Any, Iterable

from hako.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from hako.support import atomicfile

BUILTIN = ("bridge", "host", "none")


class NetworkStore:
    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, "networks.json")
        self.lock = threading.RLock()
        try:
            doc = atomicfile.read_json(self.path)
        except (OSError, ValueError):
            doc = {}
        self.ids: dict[str, str] = doc.get("ids", {})
        self.networks: dict[str, dict[str, Any]] = doc.get("networks", {})
        changed = False
        for name in BUILTIN:
            if name not in self.ids:
                self.ids[name] = secrets.token_hex(32)
                changed = True
        if changed:
            self.save()

    def save(self) -> None:
        with self.lock:
            atomicfile.write_json(self.path, {"ids": self.ids, "networks": self.networks})

    def find(self, ref: str) -> dict[str, Any] | None:
        """A user network by full id, name, or unique id prefix; None when not one."""
        with self.lock:
            if ref in self.networks:
                return self.networks[ref]
            for n in self.networks.values():
                if n["Name"] == ref:
                    return n
            found = [n for nid, n in self.networks.items() if nid.startswith(ref)] if ref else []
            if len(found) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(found)} matches found based on ID prefix)")
            return found[0] if found else None

    def builtin_name(self, ref: str) -> str | None:
        """``bridge``/``host``/``none`` for their name, id or id prefix (``default`` is bridge)."""
        if ref == "default":
            return "bridge"
        for name, nid in self.ids.items():
            if ref == name or ref == nid or (len(ref) >= 1 and nid.startswith(ref)):
                return name
        return None

    def get(self, ref: str) -> dict[str, Any]:
        n = self.find(ref)
        if n is None:
            raise NotFound(f"network {ref} not found")
        return n


def check_create(store: NetworkStore, name: str, driver: str, check_duplicate: bool,
                 enable_ipv6: bool, ingress: bool) -> None:
    """Docker's refusals before anything is made.

    Raises:
        Conflict, PermissionDenied, NotFound, InvalidArgument: as dockerd answers.
    """
    if not name:
        raise InvalidArgument("network name must not be empty")
    if name in BUILTIN:
        raise PermissionDenied(f"{name} is a pre-defined network and cannot be created")
    if driver in ("host", "null"):
        raise PermissionDenied(f"only one instance of \"{driver}\" network is allowed")
    if driver not in ("", "bridge"):
        raise NotFound(f"plugin \"{driver}\" not found")
    if check_duplicate and store.find(name) is not None and store.find(name)["Name"] == name:
        raise Conflict(f"network with name {name} already exists")
    if ingress:
        raise PermissionDenied("ingress networks are swarm networks: hako has no swarm mode")


def ipam_config(configs: list[dict[str, Any]], used: Iterable[str],
                pools: Iterable[tuple[str, int]], used6: Iterable[str] = (),
                enable_ipv6: bool = False) -> list[dict[str, str]]:
    """Validate the pools: at most one IPv4 (a free subnet of ``pools`` when none is given)
    and one IPv6 (required with ``enable_ipv6``: there are no default IPv6 pools), each as
    Subnet, Gateway, IPRange, AuxiliaryAddresses. The IPv4 one comes first.

    Raises:
        PermissionDenied: Docker's "Pool overlaps with other one on this address space".
        InvalidArgument: malformed values, more than one pool of a family.
    """
    by_family: dict[int, dict[str, Any]] = {}
    for cfg in configs:
        version = 4
        if cfg.get("Subnet"):
            try:
                version = ipaddress.ip_network(cfg["Subnet"], strict=False).version
            except ValueError:
                raise InvalidArgument(f"invalid subnet {cfg['Subnet']}") from None
        if version in by_family:
            raise InvalidArgument(f"hako networks take one IPv{version} address pool")
        by_family[version] = dict(cfg)
    out = [_one_pool(by_family.get(4, {}), used, pools)]
    if 6 in by_family:
        out.append(_one_pool(by_family[6], used6, ()))
    elif enable_ipv6:
        raise InvalidArgument("could not find an available, non-overlapping IPv6 address pool among "
                              "the defaults to assign to the network")
    return out


def _one_pool(cfg: dict[str, Any], used: Iterable[str], pools: Iterable[tuple[str, int]]) -> dict[str, str]:
    used_nets = [ipaddress.ip_network(u, strict=False) for u in used]
    if cfg.get("Subnet"):
        net = ipaddress.ip_network(cfg["Subnet"], strict=False)
        if any(net.version == u.version and net.overlaps(u) for u in used_nets):
            raise PermissionDenied("Pool overlaps with other one on this address space")
    else:
        net = None
        for base, size in pools:
            for cand in ipaddress.ip_network(base).subnets(new_prefix=size):
                if not any(cand.overlaps(u) for u in used_nets if u.version == 4):
                    net = cand
                    break
            if net is not None:
                break
        if net is None:
            raise InvalidArgument("could not find an available, non-overlapping IPv4 address pool "
                                  "among the defaults to assign to the network")
    out = {"Subnet": str(net)}
    if cfg.get("IPRange"):
        rng = ipaddress.ip_network(cfg["IPRange"], strict=False)
        if rng.version != net.version or not rng.subnet_of(net):
            raise InvalidArgument(f"Invalid pool request: IPRange {rng} is not within the subnet {net}")
        out["IPRange"] = str(rng)
    gateway = cfg.get("Gateway") or str(next(net.hosts()) if net.version == 4 else net.network_address + 1)
    try:
        if ipaddress.ip_address(gateway) not in net:
            raise ValueError
    except ValueError:
        raise InvalidArgument(f"Invalid address {gateway}: It does not belong to any of this network's subnets") \
            from None
    out["Gateway"] = gateway
    if cfg.get("AuxiliaryAddresses"):
        out["AuxiliaryAddresses"] = cfg["AuxiliaryAddresses"]
    return out
