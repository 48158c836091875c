"""NetworkService: the default bridge and each container's network sandbox.

Lifecycle of a sandbox (one per container with its own network stack)::

    attach (before the runtime creates the container)
        netns file <netns_dir>/<id[:12]> made and pinned by a bind mount;
        bridge mode: an address from IPAM, a veth pair (host end on the bridge, ``eth0``
        inside with the address, its MAC 02:42:<ip>), ``lo`` up, default route via the
        bridge's address; none mode: only ``lo`` up
    kept while the container runs and across restart-policy restarts
    detach (exit without restart, removal): host veth deleted, netns unmounted, address
        released
    sweep (daemon start): sandboxes and addresses of containers that are not running are
        removed (a daemon killed with SIGKILL left them)

The default bridge is made (or adopted, with ``-b``) at daemon start with a subnet that
overlaps no route or address of the host; the packet filter table is rebuilt then.

State on disk: ``<root>/ipam.json`` (ipam.py), ``<root>/networks.json`` (network ids).

Every method is blocking; the daemon calls them from its executor.

Layer: network (3). May import: errors, support, linux.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from hako.errors import InvalidArgument, NotFound
from hako.linux import firewall, netlink
from hako.errors import Internal
from hako.network import portmap, rules
from hako.network.proxy import Forward, UserlandProxy, bind
from hako.network.config import NetworkConfig
from hako.network.ipam import Ipam
from hako.support import atomicfile

log = logging.getLogger("hako.network")

BRIDGE_POOL = "bridge"


@dataclass(frozen=True)
class Endpoint:
    """What a container's sandbox got: the values inspect shows."""

    sandbox_key: str
    ip: str = ""
    prefixlen: int = 0
    gateway: str = ""
    mac: str = ""
    veth: str = ""
    endpoint_id: str = ""

    def to_doc(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Endpoint":
        return cls(**{k: doc.get(k, getattr(cls, k, "")) for k in cls.__dataclass_fields__})


def mac_for(ip: str) -> str:
    """Docker's MAC for an address: 02:42 then the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(ip).packed)


class NetworkService:
    """The default bridge network and per-container sandboxes."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        os.makedirs(config.root, mode=0o700, exist_ok=True)
        os.makedirs(config.netns_dir, mode=0o700, exist_ok=True)
        self.ipam = Ipam(config.root)
        self.subnet = ""
        self.gateway = ""
        self.mtu = config.mtu or 1500
        self._ids = self._load_ids()
        self._fw_lock = threading.Lock()
        self._ports: dict[str, list[tuple[str, int, str, str, int]]] = {}
        self._forwards: dict[str, list[Forward]] = {}
        self._links: dict[str, list[tuple[str, str, str, int]]] = {}
        self.proxy = UserlandProxy(forward=config.userland_proxy)
        self.allocator = portmap.PortAllocator()

    # -- networks -------------------------------------------------------------------------
    def _load_ids(self) -> dict[str, str]:
        path = os.path.join(self.config.root, "networks.json")
        try:
            ids = atomicfile.read_json(path).get("ids", {})
        except (OSError, ValueError):
            ids = {}
        changed = False
        for name in ("bridge", "host", "none"):
            if name not in ids:
                ids[name] = secrets.token_hex(32)
                changed = True
        if changed:
            atomicfile.write_json(path, {"ids": ids})
        return ids

    def network_id(self, name: str) -> str:
        """The id of a built-in network (``bridge``, ``host``, ``none``).

        Raises:
            NotFound: ``network <name> not found``.
        """
        if name not in self._ids:
            raise NotFound(f"network {name} not found")
        return self._ids[name]

    # -- the default bridge ----------------------------------------------------------------
    def setup(self) -> None:
        """Make or adopt the default bridge, choose its subnet, install the filter table.

        Raises:
            InvalidArgument: a ``-b`` bridge that does not exist, a bad ``--bip`` or
            ``--fixed-cidr``, or no free subnet in the pools.
        """
        cfg = self.config
        name = cfg.bridge_device
        exists = netlink.link_index(name) is not None
        if not exists and cfg.bridge and cfg.bridge != cfg.bridge_name:
            raise InvalidArgument(f"bridge device with non default name {name} must be created manually")
        addrs = netlink.link_addrs(name) if exists else []
        if cfg.bip:
            try:
                iface = ipaddress.ip_interface(cfg.bip)
            except ValueError:
                raise InvalidArgument(f"invalid --bip {cfg.bip!r}") from None
            if iface.ip == iface.network.network_address:
                raise InvalidArgument(f"bip {cfg.bip} is a network address, not a host address")
        elif addrs:
            iface = ipaddress.ip_interface(addrs[0])
        else:
            iface = self._free_subnet()
        if not exists:
            netlink.bridge_create(name, cfg.mtu)
        if str(iface) not in addrs:
            netlink.addr_add(name, str(iface))
        netlink.link_up(name)
        self.subnet, self.gateway = str(iface.network), str(iface.ip)
        ip_range = ""
        if cfg.fixed_cidr:
            try:
                fixed = ipaddress.ip_network(cfg.fixed_cidr, strict=False)
            except ValueError:
                raise InvalidArgument(f"invalid --fixed-cidr {cfg.fixed_cidr!r}") from None
            if not fixed.subnet_of(iface.network):
                raise InvalidArgument(f"fixed-cidr {cfg.fixed_cidr} is not within the bridge's subnet {iface.network}")
            ip_range = str(fixed)
        self.ipam.set_pool(BRIDGE_POOL, self.subnet, self.gateway, ip_range)
        if cfg.ip_forward:
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write("1")
        self.rebuild_firewall()
        log.info("default bridge %s: %s (gateway %s)", name, self.subnet, self.gateway)

    def _free_subnet(self) -> ipaddress.IPv4Interface:
        used = [ipaddress.ip_network(n, strict=False) for n in netlink.ipv4_networks()]
        for base, size in self.config.pools:
            for net in ipaddress.ip_network(base).subnets(new_prefix=size):
                if not any(net.overlaps(u) for u in used):
                    return ipaddress.ip_interface(f"{next(net.hosts())}/{net.prefixlen}")
        raise InvalidArgument("could not find an available, non-overlapping IPv4 address pool "
                              "among the defaults to assign to the network")

    def rebuild_firewall(self) -> None:
        """Install the table for the bridge and every published port (or nothing, with
        ``--iptables=false``)."""
        if not self.config.iptables or not self.subnet:
            return
        if not firewall.available():
            log.warning("nft is not installed: no masquerading, no published-port DNAT")
            return
        with self._fw_lock:
            ports = [p for items in self._ports.values() for p in items]
            allowed = [a for items in self._links.values() for a in items]
            body = rules.build(self.config.bridge_device, self.subnet, self.config.icc, allowed, ports)
            firewall.replace_table("ip", rules.table_name(self.config.bridge_device), body)

    def shutdown(self, running: bool) -> None:
        """At daemon exit: remove the filter table unless containers still run."""
        if not running and self.config.iptables and firewall.available():
            firewall.delete_table("ip", rules.table_name(self.config.bridge_device))

    # -- sandboxes --------------------------------------------------------------------------
    def sandbox_path(self, cid: str) -> str:
        return os.path.join(self.config.netns_dir, cid[:12])

    def attach(self, cid: str, mode: str, mac: str = "") -> Endpoint:
        """Make the sandbox of container ``cid``: ``mode`` is ``bridge`` or ``none``.

        Raises:
            Unavailable: no free address. NetlinkError: the kernel refused (nothing is
            left behind).
        """
        path = self.sandbox_path(cid)
        if os.path.exists(path):
            netlink.remove_netns(path)
        netlink.create_netns(path)
        if mode == "none":
            try:
                netlink.configure_inside(path, "", "", "")
            except BaseException:
                netlink.remove_netns(path)
                raise
            return Endpoint(sandbox_key=path)
        ip = self.ipam.allocate(BRIDGE_POOL, cid)
        veth = "veth" + secrets.token_hex(4)[:7]
        mac = mac or mac_for(ip)
        prefix = ipaddress.ip_network(self.subnet).prefixlen
        try:
            netlink.veth_create(veth, "eth0", path, self.config.bridge_device, self.mtu, mac)
            netlink.configure_inside(path, "eth0", f"{ip}/{prefix}", self.gateway)
        except BaseException:
            netlink.link_delete(veth)
            netlink.remove_netns(path)
            self.ipam.release(BRIDGE_POOL, ip)
            raise
        return Endpoint(sandbox_key=path, ip=ip, prefixlen=prefix, gateway=self.gateway, mac=mac,
                        veth=veth, endpoint_id=secrets.token_hex(32))

    # -- published ports -------------------------------------------------------------------
    def publish(self, cid: str, ep: Endpoint, bindings: dict[str, list[dict[str, str]]],
                endpoint_name: str) -> dict[str, list[dict[str, str]]]:
        """Bind every requested host port, forward it (proxy, DNAT) to the container.

        Returns:
            The ports as inspect shows them ({"80/tcp": [{"HostIp", "HostPort"}]}).

        Raises:
            Internal: a host port in use (Docker's texts). InvalidArgument: a bad port.
            Nothing stays bound when one fails.
        """
        made: list[Forward] = []
        result: dict[str, list[dict[str, str]]] = {}
        ours = {(f.host_ip, f.host_port, f.proto) for fs in self._forwards.values() for f in fs}
        try:
            for key, items in bindings.items():
                port, proto = portmap.split_key(key)
                if proto not in ("tcp", "udp"):
                    raise InvalidArgument(f"publishing {proto} ports is not supported by hako")
                for b in items:
                    host_ip = b.get("HostIp") or "0.0.0.0"

                    def try_bind(hp: int, host_ip: str = host_ip, proto: str = proto) -> Any:
                        if (host_ip, hp, proto) in ours:
                            raise Internal(f"driver failed programming external connectivity on endpoint "
                                           f"{endpoint_name}: Bind for {host_ip}:{hp} failed: port is already allocated")
                        return bind(host_ip, hp, proto, endpoint_name)

                    hp, sock = self.allocator.choose(b.get("HostPort") or "", proto, try_bind)
                    fwd = Forward(host_ip, hp, proto, ep.ip, port, sock)
                    made.append(fwd)
                    ours.add((host_ip, hp, proto))
                    self.proxy.add(fwd)
                    result.setdefault(key, []).append({"HostIp": host_ip, "HostPort": str(hp)})
        except BaseException:
            for fwd in made:
                self.proxy.remove(fwd)
            raise
        if made:
            self._forwards[cid] = made
            self._ports[cid] = [(f.host_ip, f.host_port, f.proto, f.target_ip, f.target_port) for f in made]
            self.rebuild_firewall()
        return result

    def unpublish(self, cid: str) -> None:
        for fwd in self._forwards.pop(cid, []):
            self.proxy.remove(fwd)
        links = self._links.pop(cid, None)
        if self._ports.pop(cid, None) or (links and not self.config.icc):
            self.rebuild_firewall()

    def set_links(self, cid: str, allowed: list[tuple[str, str, str, int]]) -> None:
        """The ports container ``cid`` may reach on linked containers under ``--icc=false``:
        (its ip, child ip, protocol, port)."""
        if not allowed:
            return
        self._links[cid] = allowed
        if not self.config.icc:
            self.rebuild_firewall()

    def published(self, cid: str) -> bool:
        return cid in self._forwards or cid in self._links

    def detach(self, cid: str, ep: Endpoint | None) -> None:
        """Tear the sandbox down (idempotent): veth, netns, address, published ports."""
        self.unpublish(cid)
        if ep is not None and ep.veth:
            netlink.link_delete(ep.veth)
        netlink.remove_netns(self.sandbox_path(cid))
        if ep is not None and ep.ip:
            self.ipam.release(BRIDGE_POOL, ep.ip)

    def sweep(self, keep: set[str]) -> None:
        """Remove sandboxes and addresses of containers not in ``keep`` (ids)."""
        short = {k[:12] for k in keep}
        for name in os.listdir(self.config.netns_dir):
            if name not in short:
                log.info("removing the stale network sandbox %s", name)
                netlink.remove_netns(os.path.join(self.config.netns_dir, name))
        self.ipam.release_unless(keep)

    def alive(self, cid: str) -> bool:
        return netlink.is_netns(self.sandbox_path(cid))
