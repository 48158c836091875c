"""The networking part of the daemon's configuration (dockerd's flags of the same names).

Layer: network (3). May import: errors.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BRIDGE = "hako0"

# moby's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s
DEFAULT_POOLS: tuple[tuple[str, int], ...] = (("172.17.0.0/16", 16), ("172.18.0.0/16", 16),
                                              ("172.19.0.0/16", 16), ("172.20.0.0/14", 16),
                                              ("172.24.0.0/14", 16), ("172.28.0.0/14", 16),
                                              ("192.168.0.0/16", 20))


@dataclass(frozen=True)
class NetworkConfig:
    """root: <data-root>/network; netns_dir: <exec-root>/netns."""

    root: str
    netns_dir: str
    bridge: str = ""  # -b/--bridge: an existing bridge to use ("none": no default bridge)
    bridge_name: str = DEFAULT_BRIDGE  # hako extension: the name of the bridge hakod makes
    bip: str = ""  # --bip: the bridge's address/prefix
    fixed_cidr: str = ""  # --fixed-cidr: containers' addresses come from this range
    ipv6: bool = False  # --ipv6: IPv6 on the default bridge
    fixed_cidr_v6: str = ""  # --fixed-cidr-v6: its IPv6 subnet (the bridge takes the first address)
    mtu: int = 0  # --mtu: 0 is 1500
    ip_forward: bool = True  # --ip-forward: set net.ipv4.ip_forward=1
    iptables: bool = True  # --iptables: manage the packet filter
    icc: bool = True  # --icc: containers on the default bridge may talk to each other
    userland_proxy: bool = True  # --userland-proxy
    firewall_backend: str = "auto"  # --firewall-backend (hako): auto (nft, else iptables), nft, iptables
    default_address_pools: tuple[tuple[str, int], ...] = ()  # --default-address-pool base=,size=
    port_forwarder: str = ""  # rootless: slirp4netns's API socket, forwarding host ports in

    @property
    def bridge_device(self) -> str:
        return self.bridge or self.bridge_name

    @property
    def pools(self) -> tuple[tuple[str, int], ...]:
        return self.default_address_pools or DEFAULT_POOLS


def parse_address_pool(value: str) -> tuple[str, int]:
    """``base=10.10.0.0/16,size=24`` → (base, size).

    Raises:
        ValueError: a malformed pool (the daemon reports it as a bad flag).
    """
    fields = dict(item.split("=", 1) for item in value.split(",") if "=" in item)
    if "base" not in fields or "size" not in fields:
        raise ValueError(f"invalid default address pool {value!r}: need base= and size=")
    return fields["base"], int(fields["size"])
