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


# A forward rule, the same for nft and iptables: (in, out, match, verdict); an interface
# name with a leading "!" is negated; match is () or (src, dst, proto, "dport"|"sport", port)
# or ("established",).
Rule = tuple[str, str, tuple, str]


def _forward(bridge: str, icc: bool, allowed: list[tuple[str, str, str, int]],
             user: list[tuple[str, str, bool]]) -> list[Rule]:
    """Docker's forward policy: internal networks reach only themselves, networks are
    isolated from each other, outbound is accepted, and with ``--icc=false`` only linked
    ports pass between containers of the default bridge."""
    out: list[Rule] = []
    devices = [bridge] + [dev for dev, _, _ in user]
    for dev, _, internal in user:
        if internal:
            out += [(dev, "!" + dev, (), "drop"), ("!" + dev, dev, (), "drop")]
    out += [(a, b, (), "drop") for a in devices for b in devices if a != b]
    out += [(dev, "!" + dev, (), "accept") for dev, _, internal in user if not internal]
    if not icc:
        for src, dst, proto, port in allowed:
            out += [(bridge, bridge, (src, dst, proto, "dport", port), "accept"),
                    (bridge, bridge, (dst, src, proto, "sport", port), "accept")]
        out.append((bridge, bridge, (), "drop"))
    return out + [(bridge, "!" + bridge, (), "accept"), ("", bridge, ("established",), "accept")]


def _nft(rule: Rule, fam: str) -> str:
    iif, oif, match, verdict = rule
    parts = [f'{kw} {"!= " if dev.startswith("!") else ""}"{dev.lstrip("!")}"'
             for kw, dev in (("iifname", iif), ("oifname", oif)) if dev]
    if match == ("established",):
        parts.append("ct state established,related")
    elif match:
        src, dst, proto, which, port = match
        parts.append(f"{fam} saddr {src} {fam} daddr {dst} {proto} {which} {port}")
    return " ".join(parts + [verdict])


def _xt(rule: Rule) -> str:
    iif, oif, match, verdict = rule
    parts = [f'{"! " if dev.startswith("!") else ""}{flag} {dev.lstrip("!")}'
             for flag, dev in (("-i", iif), ("-o", oif)) if dev]
    if match == ("established",):
        parts.append("-m conntrack --ctstate RELATED,ESTABLISHED")
    elif match:
        src, dst, proto, which, port = match
        parts.append(f"-s {src} -d {dst} -p {proto} --{which} {port}")
    return " ".join(parts + [f"-j {verdict.upper()}"])


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
    lines += [_nft(r, fam) for r in _forward(bridge, icc, allowed, user)] + ["}"]
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


def chain_names(bridge: str) -> dict[str, list[str]]:
    """Our iptables chains (the fallback where nft is missing), per table."""
    base = table_name(bridge)
    return {"nat": [f"{base}-POST", f"{base}-PORTS"], "filter": [f"{base}-FWD"]}


def xt_jumps(bridge: str, family: str = "ip", loopback_dnat: bool = False) -> list[tuple[str, str, str]]:
    """The jumps from the built-in chains to ours (table, chain, rule)."""
    base = table_name(bridge)
    loopback = "::1" if family == "ip6" else "127.0.0.0/8"
    local = "" if loopback_dnat and family == "ip" else f"! -d {loopback} "
    return [("nat", "POSTROUTING", f"-j {base}-POST"),
            ("nat", "PREROUTING", f"-m addrtype --dst-type LOCAL -j {base}-PORTS"),
            ("nat", "OUTPUT", f"{local}-m addrtype --dst-type LOCAL -j {base}-PORTS"),
            ("filter", "FORWARD", f"-j {base}-FWD")]


def build_xt(bridge: str, subnet: str, icc: bool, allowed: list[tuple[str, str, str, int]] = (),
             ports: list[tuple[str, int, str, str, int]] = (), user: list[tuple[str, str, bool]] = (),
             family: str = "ip", loopback_dnat: bool = False) -> dict[str, dict[str, list[str]]]:
    """``build``'s rules as iptables chains ({table: {chain: [rule]}}), for hosts without nft."""
    base = table_name(bridge)
    post, fwd, dnat = [], [], []
    if subnet:
        post.append(f"-s {subnet} ! -o {bridge} -j MASQUERADE")
    post += [f"-s {sub} ! -o {dev} -j MASQUERADE" for dev, sub, internal in user if sub and not internal]
    if loopback_dnat and ports:
        post += [f"-o {dev} -m addrtype --src-type LOCAL -j MASQUERADE" for dev in [bridge] + [d for d, _, _ in user]]
    fwd = [_xt(r) for r in _forward(bridge, icc, allowed, user)]
    for host_ip, host_port, proto, ip, port in ports:
        match = f"-d {host_ip} " if host_ip and host_ip not in ("0.0.0.0", "::") else ""
        target = f"[{ip}]" if family == "ip6" else ip
        dnat.append(f"! -i {bridge} {match}-p {proto} --dport {host_port} -j DNAT --to-destination {target}:{port}")
    return {"nat": {f"{base}-POST": post, f"{base}-PORTS": dnat}, "filter": {f"{base}-FWD": fwd}}
