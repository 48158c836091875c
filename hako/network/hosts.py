"""The files Docker writes for a container's network identity: hosts and resolv.conf.

Pure text builders (as libnetwork's etchosts and resolvconf packages); the daemon writes
them into the container's directory.

Layer: network (3). May import: errors, support.
"""

from __future__ import annotations

import re

DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)

# what Docker puts in resolv.conf when the host has only loopback resolvers (the IPv6 ones
# too for a container with IPv6)
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
FALLBACK_NAMESERVERS6 = ("2001:4860:4860::8888", "2001:4860:4860::8844")

_LOCALHOST_NS = re.compile(r"^\s*nameserver\s*(127\.[0-9.]+|::1)\s*$")
_IPV6_NS = re.compile(r"^\s*nameserver\s*[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(%\S+)?\s*$")


def _dropped(line: str, ipv6: bool = False) -> bool:
    """moby's FilterResolvDNS: loopback servers always, IPv6 ones unless the container has IPv6."""
    return bool(_LOCALHOST_NS.match(line) or (not ipv6 and _IPV6_NS.match(line)))


def hosts_file(hostname: str, domainname: str, ip: str, extra: list[tuple[str, str]], ip6: str = "") -> str:
    """Docker's /etc/hosts: defaults, ``extra`` (names, address) records, then the
    container's own records (``ip<TAB>fqdn host``), IPv4 then IPv6, for the addresses it has."""
    out = DEFAULT_HOSTS
    for names, addr in extra:
        out += f"{addr}\t{names}\n"
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    parts = fqdn.split(".", 1)
    for addr in (ip, ip6):
        if addr:
            out += f"{addr}\t{fqdn} {parts[0]}\n" if len(parts) == 2 else f"{addr}\t{fqdn}\n"
    return out


def extra_hosts(entries: list[str] | None) -> list[tuple[str, str]]:
    """``--add-host name:addr`` entries as (names, address) records."""
    records = []
    for entry in entries or []:
        name, _, addr = entry.partition(":")
        records.append((name, addr))
    return records


def _nameservers(text: str) -> list[str]:
    return [ln.split()[1] for ln in text.splitlines() if re.match(r"^\s*nameserver\s+\S+", ln)]


def _last_values(text: str, key: str) -> list[str]:
    found: list[str] = []
    for ln in text.splitlines():
        parts = ln.split()
        if parts and parts[0] == key:
            found = parts[1:]
    return found


def resolv_conf(host_text: str, dns: list[str] | None = None, search: list[str] | None = None,
                options: list[str] | None = None, ipv6: bool = False) -> str:
    """The container's resolv.conf from the host's, as Docker builds it.

    Without ``--dns*`` options: the host's file minus loopback nameservers, and Docker's
    fallback servers when none remain. With any: ``search``, ``nameserver`` and ``options``
    lines, each from the option when given, else from the host's file.
    """
    fallback = FALLBACK_NAMESERVERS + (FALLBACK_NAMESERVERS6 if ipv6 else ())
    if not (dns or search or options):
        kept = [ln for ln in host_text.splitlines(keepends=True) if not _dropped(ln, ipv6)]
        text = "".join(kept)
        if not _nameservers(text):  # moby appends them without a final newline
            text += "".join(f"\nnameserver {ns}" for ns in fallback)
        return text
    filtered = [ln for ln in host_text.splitlines() if not _dropped(ln, ipv6)]
    servers = list(dns or []) or _nameservers("\n".join(filtered)) or list(fallback)
    search = list(search or []) or _last_values(host_text, "search")
    options = list(options or []) or _last_values(host_text, "options")
    out = ""
    if search and " ".join(search).strip() != ".":
        out += "search " + " ".join(search) + "\n"
    out += "".join(f"nameserver {ns}\n" for ns in servers)
    if options:
        out += "options " + " ".join(options) + "\n"
    return out
