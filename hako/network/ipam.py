"""IP address management: pools (subnets) and the addresses handed out from them.

State is one JSON document (``<root>/ipam.json``, ``schema_version`` 1) written atomically
when a pool is defined or dropped and when the allocations are reconciled::

    {"pools": {"<pool id>": {"subnet": "10.1.0.0/24", "gateway": "10.1.0.1",
                             "allocated": {"10.1.0.2": "<owner>", ...}}}}

A lock serialises allocations, so concurrent creates never get the same address. An
address is the first free one of the pool's range (moby's default, non-serial), skipping
the network, broadcast and gateway addresses.

The file is replaced atomically (temp file, rename) but not fsynced. The allocations in it
are never trusted: each running container's record holds its addresses and the daemon makes
the allocations exactly those at start (``reconcile``), so an allocation or a release is
kept in memory only. Writing the file on each of them made and freed two inodes per
container, and on an ext4 without a journal every new inode is found by skipping each one
freed in the last half minute (``recently_deleted``): the churn of 20 starts at once cost
more than their veth pairs.

Layer: network (3). May import: errors, support.
"""

from __future__ import annotations

import ipaddress
import os
import threading

from hako.errors import Conflict, InvalidArgument, Unavailable
from hako.support import atomicfile


class Ipam:
    """Pools persisted under ``root``; allocations kept in memory (see the module docstring)."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, "ipam.json")
        os.makedirs(root, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._pools: dict[str, dict] = atomicfile.read_json(self.path).get("pools", {})
        except (OSError, ValueError):
            self._pools = {}

    def _save(self) -> None:
        import json

        tmp = f"{self.path}.tmp"
        data = json.dumps({"pools": self._pools, atomicfile.SCHEMA_KEY: 1}, separators=(",", ":")).encode()
        with open(tmp, "wb") as f:  # one write (json.dump writes every token separately)
            f.write(data)
        os.replace(tmp, self.path)

    def set_pool(self, pool: str, subnet: str, gateway: str, ip_range: str = "") -> None:
        """Define or redefine a pool; allocations outside the new subnet are dropped."""
        net = ipaddress.ip_network(subnet, strict=False)
        with self._lock:
            old = self._pools.get(pool, {}).get("allocated", {})
            kept = {ip: o for ip, o in old.items() if ipaddress.ip_address(ip) in net}
            self._pools[pool] = {"subnet": str(net), "gateway": gateway, "range": ip_range,
                                 "allocated": kept}
            self._save()

    def drop_pool(self, pool: str) -> None:
        with self._lock:
            if self._pools.pop(pool, None) is not None:
                self._save()

    def allocate(self, pool: str, owner: str, requested: str = "") -> str:
        """An address of ``pool`` for ``owner`` (``requested`` when given and free).

        Raises:
            Conflict: the requested address is taken. InvalidArgument: it is outside the
            pool. Unavailable: the pool is exhausted.
        """
        with self._lock:
            p = self._pools[pool]
            net = ipaddress.ip_network(p["subnet"])
            taken = p["allocated"]
            if requested:
                addr = ipaddress.ip_address(requested)
                if addr not in net:
                    raise InvalidArgument(f"Address {requested} does not belong to the pool's subnet {net}")
                if requested in taken or requested == p["gateway"]:
                    raise Conflict(f"Address already in use: {requested}")
                found = requested
            else:
                found = self._first_free(p, net)
            taken[found] = owner
            return found

    @staticmethod
    def _first_free(p: dict, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
        rng = ipaddress.ip_network(p["range"]) if p.get("range") else net
        taken = p["allocated"]
        for addr in rng.hosts() if rng.prefixlen < 31 else rng:
            s = str(addr)
            if s != p["gateway"] and s not in taken and addr != net.network_address \
                    and addr != net.broadcast_address:
                return s
        raise Unavailable(f"no available IPv{net.version} addresses on this network's address pools")

    def release(self, pool: str, addr: str) -> None:
        with self._lock:
            p = self._pools.get(pool)
            if p:
                p["allocated"].pop(addr, None)

    def reconcile(self, claims: list[tuple[str, str, str]]) -> None:
        """Make the allocations exactly ``claims`` (pool, address, owner): what the running
        containers' records hold (daemon start)."""
        with self._lock:
            for p in self._pools.values():
                p["allocated"] = {}
            for pool, addr, owner in claims:
                if pool in self._pools:
                    self._pools[pool]["allocated"][addr] = owner
            self._save()

    def release_unless(self, keep: set[str]) -> list[str]:
        """Release every allocation whose owner is not in ``keep`` (restart clean-up)."""
        dropped = []
        with self._lock:
            for p in self._pools.values():
                for addr, owner in list(p["allocated"].items()):
                    if owner not in keep:
                        del p["allocated"][addr]
                        dropped.append(addr)
        return dropped

    def allocated(self, pool: str) -> dict[str, str]:
        with self._lock:
            return dict(self._pools.get(pool, {}).get("allocated", {}))
