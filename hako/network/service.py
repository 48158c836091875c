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
from dataclasses import dataclass
from typing import Any

from hako.errors import InvalidArgument, NotFound
from hako.linux import netlink
from hako.errors import Internal
from hako.network import portmap
from hako.network import slirp
from hako.network.proxy import Forward, UserlandProxy, bind, ipv6_listenable
from hako.network.config import NetworkConfig
from hako.network.filtering import Firewall, RuleSpec
from hako.network.ipam import Ipam
from hako.network.networks import NetworkStore

log = logging.getLogger("hako.network")

BRIDGE_POOL = "bridge"
BRIDGE_POOL6 = "bridge/6"


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
    pool: str = BRIDGE_POOL  # the IPAM pool: "bridge" or a user network's id
    ifname: str = "eth0"
    ip6: str = ""  # on a network with IPv6: its global address, prefix, gateway, pool
    prefixlen6: int = 0
    gateway6: str = ""
    pool6: str = ""

    def to_doc(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "Endpoint":
        return cls(**{k: doc.get(k, getattr(cls, k, "")) for k in cls.__dataclass_fields__})


def _link_local(addr: str) -> str:
    """A requested link-local address with moby's prefix: /16 (IPv4), /64 (IPv6)."""
    return f"{addr}/16" if ipaddress.ip_address(addr).version == 4 else f"{addr}/64"


def _from_mac(subnet: str, mac: str) -> str:
    """moby's IPv6 address of a default-bridge container: the subnet with the MAC's six
    bytes as its last ones."""
    packed = bytearray(ipaddress.ip_network(subnet).network_address.packed)
    packed[10:16] = bytes(int(b, 16) for b in mac.split(":"))
    return str(ipaddress.IPv6Address(bytes(packed)))


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
        self.subnet6 = ""  # the default bridge's IPv6 subnet and gateway (--ipv6)
        self.gateway6 = ""
        self.mtu = config.mtu or 1500
        self.store = NetworkStore(config.root)
        self.firewall = Firewall(config.firewall_backend if config.iptables else "none")
        self._ports: dict[str, list[tuple[str, int, str, str, int]]] = {}
        self._forwards: dict[str, list[Forward]] = {}
        self._hostfwd: dict[str, list[int]] = {}
        self._links: dict[str, list[tuple[str, str, str, int]]] = {}
        self._dns: dict[str, Any] = {}
        self.proxy = UserlandProxy(forward=config.userland_proxy)
        self.allocator = portmap.PortAllocator()

    # -- networks -------------------------------------------------------------------------
    def network_id(self, name: str) -> str:
        """The id of a built-in network (``bridge``, ``host``, ``none``).

        Raises:
            NotFound: ``network <name> not found``.
        """
        if name in self.store.ids:
            return self.store.ids[name]
        return self.store.get(name)["Id"]

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
        self._route_localnet(name)
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
        self._setup_ipv6(name)
        for rec in list(self.store.networks.values()):
            self._make_bridge(rec)
        if cfg.ip_forward:
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write("1")
        self.rebuild_firewall()
        log.info("default bridge %s: %s (gateway %s)", name, self.subnet, self.gateway)

    def _setup_ipv6(self, device: str) -> None:
        """``--ipv6 --fixed-cidr-v6``: the bridge takes the subnet's first address; containers
        get addresses made of their MAC (moby's default bridge, for prefixes up to /80)."""
        cfg = self.config
        if not cfg.ipv6:
            if cfg.fixed_cidr_v6:
                raise InvalidArgument("--fixed-cidr-v6 needs --ipv6")
            return
        try:
            net = ipaddress.ip_network(cfg.fixed_cidr_v6, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid --fixed-cidr-v6 {cfg.fixed_cidr_v6!r}") from None
        if net.version != 6 or net.prefixlen > 80:
            raise InvalidArgument("--ipv6 needs --fixed-cidr-v6 with an IPv6 subnet of at least 48 host bits")
        gateway = f"{net.network_address + 1}/{net.prefixlen}"
        if gateway not in netlink.link_addrs(device, 6):
            netlink.addr_add(device, gateway)
        self.subnet6, self.gateway6 = str(net), str(net.network_address + 1)
        self.ipam.set_pool(BRIDGE_POOL6, self.subnet6, self.gateway6)
        self._ipv6_forwarding()

    def _ipv6_forwarding(self) -> None:
        """``--ip-forward`` with IPv6 networks: net.ipv6.conf.all.forwarding=1, as dockerd
        (which also stops the host accepting router advertisements on accept_ra=1 links)."""
        if self.config.ip_forward:
            with open("/proc/sys/net/ipv6/conf/all/forwarding", "w") as f:
                f.write("1")

    def _free_subnet(self) -> ipaddress.IPv4Interface:
        used = [ipaddress.ip_network(n, strict=False) for n in netlink.ipv4_networks()]
        for base, size in self.config.pools:
            for net in ipaddress.ip_network(base).subnets(new_prefix=size):
                if not any(net.overlaps(u) for u in used):
                    return ipaddress.ip_interface(f"{next(net.hosts())}/{net.prefixlen}")
        raise InvalidArgument("could not find an available, non-overlapping IPv4 address pool "
                              "among the defaults to assign to the network")

    def rebuild_firewall(self) -> None:
        """Install the rules for the bridges and every published port (or nothing, with
        ``--iptables=false``)."""
        if not self.config.iptables or not self.subnet:
            return
        nets = list(self.store.networks.values())
        self.firewall.apply(RuleSpec(
            self.config.bridge_device, self.subnet, self.subnet6, self.config.icc, not self.config.userland_proxy,
            [a for items in self._links.values() for a in items], [p for items in self._ports.values() for p in items],
            [(n["Device"], n["IPAM"]["Config"][0]["Subnet"], n["IPAM"]["Config"][1]["Subnet"] if self._pool6(n) else "",
              bool(n.get("Internal"))) for n in nets]))

    def shutdown(self, running: bool) -> None:
        """At daemon exit: remove the filter rules unless containers still run."""
        if not running and self.config.iptables:
            self.firewall.remove(self.config.bridge_device)

    # -- sandboxes --------------------------------------------------------------------------
    def sandbox_path(self, cid: str) -> str:
        return os.path.join(self.config.netns_dir, cid[:12])

    def attach(self, cid: str, mode: str, network: dict[str, Any] | None = None, ip: str = "",
               mac: str = "", link_local: list[str] = (), ip6: str = "") -> Endpoint:
        """Make the sandbox of container ``cid``: ``mode`` is ``bridge`` or ``none``, or the
        user network record ``network`` (its first endpoint, ``eth0``); ``ip``, ``mac`` and
        the ``link_local`` addresses as requested.

        Raises:
            Unavailable: no free address. NetlinkError: the kernel refused (nothing is
            left behind).
        """
        path = self.sandbox_path(cid)
        if os.path.exists(path):
            netlink.remove_netns(path)
        if mode == "none":
            netlink.setup_sandbox(path)
            return Endpoint(sandbox_key=path)
        return self.join(cid, network, "eth0", ip, mac, link_local, default_route=True, ip6=ip6, create=True)

    def join(self, cid: str, network: dict[str, Any] | None, ifname: str, ip: str = "", mac: str = "",
             link_local: list[str] = (), default_route: bool = False, ip6: str = "",
             create: bool = False) -> Endpoint:
        """Put an interface of the sandbox on the default bridge (``network`` None) or on a
        user network (an IPv6 address too where it has IPv6); ``create``: the sandbox is made
        too (its first interface). Nothing is left behind when it fails.

        Raises:
            Conflict: the requested address is taken. Unavailable: the pool is full.
            InvalidArgument: a requested address where none may be asked.
        """
        path = self.sandbox_path(cid)
        if network is None:
            if ip or ip6:
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            pool, device, subnet, gateway = BRIDGE_POOL, self.config.bridge_device, self.subnet, self.gateway
        else:
            cfg = network["IPAM"]["Config"][0]
            pool, device, subnet, gateway = network["Id"], network["Device"], cfg["Subnet"], cfg["Gateway"]
            if ip6 and len(network["IPAM"]["Config"]) < 2:
                raise InvalidArgument("user specified IP address is supported only when connecting to "
                                      "networks with user configured subnets")
        v6 = self._pool6(network)
        ip = self.ipam.allocate(pool, cid, ip)
        mac = mac or mac_for(ip)
        try:
            if v6 is not None:
                ip6 = self.ipam.allocate(v6[0], cid, ip6 or (_from_mac(v6[1], mac) if network is None else ""))
        except BaseException:
            self.ipam.release(pool, ip)
            raise
        internal = bool(network and network.get("Internal"))
        ep = Endpoint(sandbox_key=path, ip=ip, prefixlen=ipaddress.ip_network(subnet).prefixlen,
                      gateway="" if internal else gateway, mac=mac, veth="veth" + secrets.token_hex(4)[:7],
                      endpoint_id=secrets.token_hex(32), pool=pool, ifname=ifname,
                      ip6=ip6 if v6 else "", prefixlen6=ipaddress.ip_network(v6[1]).prefixlen if v6 else 0,
                      gateway6="" if internal or not v6 else v6[2], pool6=v6[0] if v6 else "")
        cidrs = [f"{ip}/{ep.prefixlen}"] + ([f"{ep.ip6}/{ep.prefixlen6}"] if ep.ip6 else [])
        try:
            netlink.setup_sandbox(path, create, (ep.veth, ifname), device, self.mtu, mac,
                                  cidrs + [_link_local(a) for a in link_local],
                                  ep.gateway if default_route else "", ep.gateway6 if default_route else "")
        except BaseException:
            self._release(ep)
            raise
        return ep

    def _pool6(self, network: dict[str, Any] | None) -> tuple[str, str, str] | None:
        """(IPAM pool, subnet, gateway) of the network's IPv6 side, or None without IPv6."""
        if network is None:
            return (BRIDGE_POOL6, self.subnet6, self.gateway6) if self.subnet6 else None
        configs = network["IPAM"]["Config"]
        if not network.get("EnableIPv6") or len(configs) < 2:
            return None
        return network["Id"] + "/6", configs[1]["Subnet"], configs[1]["Gateway"]

    def _release(self, ep: Endpoint) -> None:
        if ep.ip:
            self.ipam.release(ep.pool, ep.ip)
        if ep.ip6:
            self.ipam.release(ep.pool6, ep.ip6)

    def leave(self, ep: Endpoint) -> None:
        """Remove one interface of a sandbox and release its addresses."""
        if ep.veth:
            netlink.link_delete(ep.veth)
        self._release(ep)

    # -- user-defined networks ---------------------------------------------------------------
    def create_network(self, name: str, driver: str = "bridge", ipam: dict[str, Any] | None = None,
                       internal: bool = False, labels: dict[str, str] | None = None,
                       options: dict[str, str] | None = None, check_duplicate: bool = True,
                       attachable: bool = False, enable_ipv6: bool = False, ingress: bool = False) -> dict[str, Any]:
        """Create a bridge network: record, address pool, bridge ``br-<id12>``.

        Raises:
            Conflict, PermissionDenied, NotFound, InvalidArgument: Docker's answers.
        """
        from hako.network import networks

        with self.store.lock:
            networks.check_create(self.store, name, driver, check_duplicate, enable_ipv6, ingress)
            ipam = ipam or {}
            if (ipam.get("Driver") or "default") != "default":
                raise NotFound(f"plugin \"{ipam['Driver']}\" not found")
            subnets = [c["Subnet"] for n in self.store.networks.values() for c in n["IPAM"]["Config"]]
            used = [self.subnet] + [s for s in subnets if ":" not in s]
            used6 = ([self.subnet6] if self.subnet6 else []) + [s for s in subnets if ":" in s]
            configs = ipam.get("Config") or []
            if not any(c.get("Subnet") and ":" not in c["Subnet"] for c in configs):
                used += netlink.ip_networks(4)
            used6 += netlink.ip_networks(6) if any(":" in (c.get("Subnet") or "") for c in configs) else []
            cfgs = networks.ipam_config(configs, used, self.config.pools, used6, enable_ipv6)
            nid = secrets.token_hex(32)
            rec = {"Name": name, "Id": nid, "Created": _now(), "Scope": "local", "Driver": "bridge",
                   "EnableIPv6": bool(enable_ipv6), "Internal": bool(internal), "Attachable": bool(attachable),
                   "Ingress": False, "Labels": dict(labels or {}), "Options": dict(options or {}),
                   "IPAM": {"Driver": "default", "Options": ipam.get("Options"), "Config": cfgs},
                   "Device": "br-" + nid[:12]}
            self._make_bridge(rec)
            self.store.networks[nid] = rec
            self.store.save()
        self.rebuild_firewall()
        return rec

    def _make_bridge(self, rec: dict[str, Any]) -> None:
        device = rec["Device"]
        if netlink.link_index(device) is None:
            netlink.bridge_create(device, self.config.mtu)
        for pool, cfg in zip((rec["Id"], rec["Id"] + "/6"), rec["IPAM"]["Config"]):
            if pool.endswith("/6") and not rec.get("EnableIPv6"):
                break
            gateway = f"{cfg['Gateway']}/{ipaddress.ip_network(cfg['Subnet']).prefixlen}"
            if gateway not in netlink.link_addrs(device, 6 if ":" in gateway else 4):
                netlink.addr_add(device, gateway)
            if pool.endswith("/6"):
                self._ipv6_forwarding()
            self.ipam.set_pool(pool, cfg["Subnet"], cfg["Gateway"], cfg.get("IPRange", ""))
        netlink.link_up(device)
        self._route_localnet(device)

    def _route_localnet(self, device: str) -> None:
        """``--userland-proxy=false``: 127.0.0.1 may be DNATed to containers on ``device``
        (dockerd sets the same sysctl on its bridges)."""
        if not self.config.userland_proxy and self.config.iptables:
            with open(f"/proc/sys/net/ipv4/conf/{device}/route_localnet", "w") as f:
                f.write("1")

    def remove_network(self, rec: dict[str, Any]) -> None:
        """Delete a user network (the caller checked it has no endpoints)."""
        with self.store.lock:
            netlink.link_delete(rec["Device"])
            self.ipam.drop_pool(rec["Id"])
            self.ipam.drop_pool(rec["Id"] + "/6")
            self.store.networks.pop(rec["Id"], None)
            self.store.save()
        self.rebuild_firewall()

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
        hostfwd: list[int] = []  # rootless: slirp4netns's forwards from the host
        result: dict[str, list[dict[str, str]]] = {}
        ours = {(f.host_ip, f.host_port, f.proto) for fs in self._forwards.values() for f in fs}
        try:
            for key, items in bindings.items():
                port, proto = portmap.split_key(key)
                if proto not in ("tcp", "udp"):
                    raise InvalidArgument(f"publishing {proto} ports is not supported by hako")
                for b in items:
                    ips = [b["HostIp"]] if b.get("HostIp") else ["0.0.0.0"] + (["::"] if ipv6_listenable() else [])
                    inner = self._netns_ips(ips)

                    def try_bind(hp: int, ips: list[str] = inner, proto: str = proto) -> list[Any]:
                        return self._bind_all(ips, hp, proto, ours, endpoint_name)

                    hp, socks = self.allocator.choose(b.get("HostPort") or "", proto, try_bind)
                    fwds = [Forward(ip, hp, proto, ep.ip6 if ":" in ip and ep.ip6 else ep.ip, port, sock)
                            for ip, sock in zip(inner, socks)]
                    made += fwds
                    for fwd, shown in zip(fwds, ips):
                        ours.add((fwd.host_ip, hp, proto))
                        self.proxy.add(fwd)
                        result.setdefault(key, []).append({"HostIp": shown, "HostPort": str(hp)})
                        if self.config.port_forwarder and ":" not in shown:
                            hostfwd.append(slirp.add(self.config.port_forwarder, shown, hp, proto,
                                                     endpoint_name))
        except BaseException:
            for fwd in made:
                self.proxy.remove(fwd)
            for rule in hostfwd:
                slirp.remove(self.config.port_forwarder, rule)
            raise
        if hostfwd:
            self._hostfwd[cid] = hostfwd
        if made:
            self._forwards[cid] = made
            self._ports[cid] = [(f.host_ip, f.host_port, f.proto, f.target_ip, f.target_port) for f in made]
            self.rebuild_firewall()
        return result

    @staticmethod
    def _bind_all(ips: list[str], hp: int, proto: str, ours: set[tuple[str, int, str]],
                  endpoint_name: str) -> list[Any]:
        """Bind host port ``hp`` on every address of ``ips``, or none of them.

        Raises:
            Internal: Docker's texts for a port hakod or another process holds.
        """
        socks: list[Any] = []
        try:
            for ip in ips:
                if (ip, hp, proto) in ours:
                    shown = f"[{ip}]" if ":" in ip else ip
                    raise Internal(f"driver failed programming external connectivity on endpoint "
                                   f"{endpoint_name}: Bind for {shown}:{hp} failed: port is already allocated")
                socks.append(bind(ip, hp, proto, endpoint_name))
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        return socks

    def _netns_ips(self, ips: list[str]) -> list[str]:
        """Where a port is bound in our netns: as asked, except that a rootless hakod's
        netns listens on all its IPv4 addresses (slirp4netns comes in on the tap device)
        and the host side keeps the asked address."""
        if not self.config.port_forwarder:
            return ips
        return ["0.0.0.0" if ":" not in ip else ip for ip in ips]

    def unpublish(self, cid: str) -> None:
        for fwd in self._forwards.pop(cid, []):
            self.proxy.remove(fwd)
        for rule in self._hostfwd.pop(cid, []):
            slirp.remove(self.config.port_forwarder, rule)
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

    # -- embedded DNS -------------------------------------------------------------------------
    def start_dns(self, cid: str, lookup: Any, servers: list[str] | None = None) -> None:
        """Serve 127.0.0.11:53 in the sandbox of ``cid`` (user-defined networks); other names
        go to ``servers`` (the container's ``--dns``) or else to the host's resolvers."""
        from hako.network import dns

        if cid in self._dns:
            return
        sock = dns.bind_in(self.sandbox_path(cid))
        if servers:
            upstreams = dns.host_upstreams("".join(f"nameserver {s}\n" for s in servers))
        else:
            try:
                with open("/etc/resolv.conf") as f:
                    upstreams = dns.host_upstreams(f.read())
            except OSError:
                upstreams = []
        self._dns[cid] = self.proxy.run(dns.serve(sock, cid, lookup, upstreams))

    def stop_dns(self, cid: str) -> None:
        transport = self._dns.pop(cid, None)
        if transport is not None:
            async def close() -> None:
                transport.close()

            self.proxy.run(close())

    def published(self, cid: str) -> bool:
        return cid in self._forwards or cid in self._links

    def detach(self, cid: str, ep: Endpoint | None, extra: list[Endpoint] = ()) -> None:
        """Tear the sandbox down (idempotent): published ports, netns, addresses.

        The veth pairs are not deleted one by one (a synchronous veth deletion waits for an
        RCU grace period, 15-40 ms here): unmounting the namespace of an exited container
        lets the kernel destroy it, and its veths with it, in the background. An address
        can be handed out again at once: its MAC is derived from it, so no neighbour entry
        goes stale.
        """
        self.unpublish(cid)
        netlink.remove_netns(self.sandbox_path(cid))
        for one in [ep, *extra]:
            if one is not None:
                self._release(one)

    def sweep(self, keep: dict[str, list[Endpoint]]) -> None:
        """Remove sandboxes of containers not in ``keep`` (id → its endpoints) and make the
        address allocations exactly the kept endpoints'."""
        short = {k[:12] for k in keep}
        for name in os.listdir(self.config.netns_dir):
            if name not in short:
                log.info("removing the stale network sandbox %s", name)
                netlink.remove_netns(os.path.join(self.config.netns_dir, name))
        self.ipam.reconcile([(ep.pool, ep.ip, cid) for cid, eps in keep.items() for ep in eps if ep.ip] +
                            [(ep.pool6, ep.ip6, cid) for cid, eps in keep.items() for ep in eps if ep.ip6])

    def alive(self, cid: str) -> bool:
        return netlink.is_netns(self.sandbox_path(cid))


def _now() -> str:
    import time

    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"
