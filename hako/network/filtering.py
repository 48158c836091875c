"""The packet filter of one hakod: Docker's rules (rules.py) installed through nftables, or
through iptables chains where ``nft`` is missing (or ``--firewall-backend iptables``).

``Firewall.apply`` gets everything the rules must say and replaces what is installed, per
family: IPv4 always, IPv6 while any network has IPv6 (and once more to remove it after
that). ``remove`` deletes all of it (daemon exit with nothing running).

Layer: network (3). May import: errors, linux.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from hako.linux import firewall
from hako.network import rules

log = logging.getLogger("hako.network")


@dataclass
class RuleSpec:
    """What the rules must say (see rules.build): the default bridge, its subnets, the
    user-defined networks as (bridge, IPv4 subnet, IPv6 subnet or "", internal), links under
    ``--icc=false`` and published ports (host ip, host port, proto, target ip, target port)."""

    bridge: str
    subnet: str
    subnet6: str = ""
    icc: bool = True
    loopback_dnat: bool = False
    allowed: list[tuple[str, str, str, int]] = field(default_factory=list)
    ports: list[tuple[str, int, str, str, int]] = field(default_factory=list)
    user: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def family_args(self, family: str) -> tuple:
        """The arguments of rules.build/build_xt for ``ip`` or ``ip6``."""
        if family == "ip":
            ports = [p for p in self.ports if ":" not in p[0] and ":" not in p[3]]
            user = [(dev, sub, internal) for dev, sub, _, internal in self.user]
            return self.bridge, self.subnet, self.icc, self.allowed, ports, user, "ip", self.loopback_dnat
        ports = [p for p in self.ports if ":" in p[3]]
        user = [(dev, sub6, internal) for dev, _, sub6, internal in self.user]
        return self.bridge, self.subnet6, self.icc, [], ports, user, "ip6", False

    @property
    def has_ipv6(self) -> bool:
        return bool(self.subnet6 or any(sub6 for _, _, sub6, _ in self.user))


class Firewall:
    def __init__(self, preference: str = "auto") -> None:
        """``preference``: auto, nft, iptables, or none (``--iptables=false``)."""
        self.backend = firewall.backend(preference)
        self._lock = threading.Lock()
        self._ip6 = True  # an IPv6 rule set may exist (a stale one is removed at the first apply)
        if not self.backend and preference != "none":
            log.warning("neither nft nor iptables is installed: no masquerading, no published-port DNAT")

    def apply(self, spec: RuleSpec) -> None:
        """Replace the installed rules by ``spec``'s.

        Raises:
            Internal: the tool refused the rules.
        """
        if not self.backend:
            return
        with self._lock:
            families = ["ip"] + (["ip6"] if spec.has_ipv6 or self._ip6 else [])
            if self.backend == "nft":
                firewall.replace_tables([(fam, rules.table_name(spec.bridge),
                                          rules.build(*spec.family_args(fam))
                                          if fam == "ip" or spec.has_ipv6 else None) for fam in families])
            else:
                for fam in families:
                    jumps = rules.xt_jumps(spec.bridge, fam, spec.loopback_dnat and fam == "ip")
                    if fam == "ip" or spec.has_ipv6:
                        firewall.xt_replace(4 if fam == "ip" else 6, rules.build_xt(*spec.family_args(fam)), jumps)
                    else:
                        self._remove_xt(spec.bridge, 6)
            self._ip6 = spec.has_ipv6

    def remove(self, bridge: str) -> None:
        """Delete every rule of ours (both families)."""
        if self.backend == "nft":
            firewall.replace_tables([(fam, rules.table_name(bridge), None) for fam in ("ip", "ip6")])
        elif self.backend == "iptables":
            for family in (4, 6):
                self._remove_xt(bridge, family)

    @staticmethod
    def _remove_xt(bridge: str, family: int) -> None:
        fam = "ip" if family == 4 else "ip6"
        jumps = rules.xt_jumps(bridge, fam) + rules.xt_jumps(bridge, fam, loopback_dnat=True)
        firewall.xt_remove(family, rules.chain_names(bridge), jumps)
