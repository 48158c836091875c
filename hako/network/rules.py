"""Docker's meaning of the packet filter, as the body of one nftables table of our own.

The table (``ip hako_<bridge>``, and ``ip6 hako_<bridge>`` with the same chains while any
network has IPv6) holds every rule hakod needs and nothing else; it is rebuilt whole
whenever what it must say changes, and deleted when the daemon leaves with no container
left.

- ``postrouting`` (nat): masquerade what leaves the bridge's subnet through another link;
- ``forward`` (filter): accept the bridge's outbound and reply traffic; with ``--icc=false``
  drop container-to-container traffic on the bridge except the linked ports
  (``allowed``: (source ip, destination ip, protocol, port)).
- ``prerouting``/``output`` (nat): published ports → ``dnat`` to the container
  (``ports``: (host ip or "", host port, protocol, container ip, container port)).

Layer: network (3). May import: nothing.
"""

from __future__ import annotations

import re


def table_name(bridge: str) -> str:
    return "hako_" + re.sub(r"[^A-Za-z0-9_]", "_", bridge)


def build(bridge: str, subnet: str, icc: bool, allowed: list[tuple[str, str, str, int]] = (),
          ports: list[tuple[str, int, str, str, int]] = (),
          user: list[tuple[str, str, bool]] = (), family: str = "ip", loopback_dnat: bool = False) -> str:
    """The body of table ``family`` (``ip`` or ``ip6``): ``subnet`` and the subnets of
    ``user`` (the user-defined networks: bridge, subnet, internal) are of that family ("" for
    a network without one: nothing to masquerade); ``ports`` hold only that family's
    bindings and targets. ``loopback_dnat`` (``--userland-proxy=false``, IPv4): published
    ports reached on 127.0.0.1 are DNATed too, their local source masqueraded (dockerd's
    hairpin rules; the bridges need ``route_localnet``)."""
    fam = family
    br = f'"{bridge}"'
    lines = ["chain postrouting {", "type nat hook postrouting priority srcnat; policy accept;"]
    if subnet:
        lines.append(f"{fam} saddr {subnet} oifname != {br} masquerade")
    lines += [f'{fam} saddr {sub} oifname != "{dev}" masquerade' for dev, sub, internal in user
              if sub and not internal]
    if loopback_dnat and ports:
        lines += [f'oifname "{dev}" fib saddr type local masquerade' for dev in [bridge] + [d for d, _, _ in user]]
    lines += ["}", "chain forward {", "type filter hook forward priority filter; policy accept;"]
    devices = [bridge] + [dev for dev, _, _ in user]
    for dev, _, internal in user:  # internal networks reach nothing but themselves
        if internal:
            lines += [f'iifname "{dev}" oifname != "{dev}" drop', f'oifname "{dev}" iifname != "{dev}" drop']
    for a in devices:  # networks are isolated from each other
        for b in devices:
            if a != b:
                lines.append(f'iifname "{a}" oifname "{b}" drop')
    lines += [f'iifname "{dev}" oifname != "{dev}" accept' for dev, _, internal in user if not internal]
    if not icc:
        for src, dst, proto, port in allowed:
            lines.append(f"iifname {br} oifname {br} {fam} saddr {src} {fam} daddr {dst} {proto} dport {port} accept")
            lines.append(f"iifname {br} oifname {br} {fam} saddr {dst} {fam} daddr {src} {proto} sport {port} accept")
        lines.append(f"iifname {br} oifname {br} drop")
    lines += [f"iifname {br} oifname != {br} accept",
              f"oifname {br} ct state established,related accept", "}"]
    if ports:
        lines += ["chain ports {"]
        for host_ip, host_port, proto, ip, port in ports:
            match = f"{fam} daddr {host_ip} " if host_ip and host_ip not in ("0.0.0.0", "::") else ""
            target = f"[{ip}]" if fam == "ip6" else ip
            lines.append(f"iifname != {br} {match}{proto} dport {host_port} dnat to {target}:{port}")
        loopback = "::1" if fam == "ip6" else "127.0.0.0/8"
        local = "" if loopback_dnat and fam == "ip" else f"{fam} daddr != {loopback} "
        lines += ["}",
                  "chain prerouting {", "type nat hook prerouting priority dstnat; policy accept;",
                  "fib daddr type local jump ports", "}",
                  "chain output {", "type nat hook output priority -100; policy accept;",
                  f"{local}fib daddr type local jump ports", "}"]
    return "\n".join(lines)
