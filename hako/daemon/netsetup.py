"""A container's network, as the daemon decides it: mode, sandbox, etc files, inspect data.

Modes (``HostConfig.NetworkMode``): ``default``/``bridge`` (the default bridge), ``none``
(a sandbox with only ``lo``), ``host`` (the host's stack, hosts and resolv.conf copied from
the host), ``container:<name|id>`` (the other container's sandbox and files). Any other
name is a user-defined network, which does not exist yet: ``network <name> not found``.

``c.networking`` (persisted in the record)::

    {"Networks": {<name>: EndpointSettings as inspect shows them},
     "Sandbox": Endpoint.to_doc() while a sandbox exists, else absent,
     "SandboxID": 64 hex while a sandbox exists}

Every function is blocking (the ContainerService calls them from its executor) except
``check_create`` and ``initial``.

Layer: daemon (6).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import shutil
import socket
from typing import Any

from hako.daemon.state import Container
from hako.errors import Conflict, InvalidArgument, NotFound
from hako.network import endpoints as epmod
from hako.network import hosts as hostsfiles
from hako.network import links as linkmod
from hako.network import portmap
from hako.network.service import Endpoint
from hako.support.atomicfile import write_bytes

log = logging.getLogger("hako.netsetup")

_BUILTIN = ("default", "bridge", "none", "host")


def mode_of(hc: dict[str, Any]) -> str:
    mode = hc.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def network_name(hc: dict[str, Any]) -> str:
    """The name under ``Networks`` (moby: ``default`` shows as ``bridge``)."""
    return mode_of(hc)


def check_create(body: dict[str, Any], hc: dict[str, Any]) -> None:
    """Docker's create-time checks of the network options.

    Raises:
        NotFound: an unknown network. InvalidArgument: conflicting options.
    """
    mode = mode_of(hc)
    conf = body
    if mode.startswith("container:"):
        if not mode[len("container:"):]:
            raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")
        if conf.get("Hostname"):
            raise InvalidArgument("conflicting options: hostname and the network mode")
        if hc.get("Dns") or hc.get("DnsSearch") or hc.get("DnsOptions"):
            raise InvalidArgument("conflicting options: dns and the network mode")
        if hc.get("ExtraHosts"):
            raise InvalidArgument("conflicting options: custom host-to-IP mapping and the network mode")
        if conf.get("MacAddress"):
            raise InvalidArgument("conflicting options: mac-address and the network mode")
    if hc.get("UTSMode") == "host" and conf.get("Hostname"):
        raise InvalidArgument("conflicting options: hostname and the UTS mode")
    if mode == "host" and conf.get("MacAddress"):
        raise InvalidArgument("conflicting options: mac-address and the network mode")
    if mode == "host" and hc.get("Links"):
        raise InvalidArgument("conflicting options: host type networking can't be used with links. "
                              "This would result in undefined behavior")
    epmod.check_mac(conf.get("MacAddress") or "")
    for entry in hc.get("ExtraHosts") or []:
        name, sep, addr = entry.partition(":")
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise InvalidArgument(f"invalid IP address in add-host: \"{addr}\"") from None
        if not sep or not name:
            raise InvalidArgument(f"bad format for add-host: \"{entry}\"")


def normalize_links(svc: Any, name: str, hc: dict[str, Any]) -> None:
    """Check each ``--link`` and store it as moby does: ``/<child>:/<parent>/<alias>``.

    On a user-defined network links are not registered (moby's registerLinks): they are
    the endpoint's (``initial`` moves them there), answered by the embedded DNS.

    Raises:
        InvalidArgument: a missing child, or a child on the host's network.
    """
    if _user_defined(mode_of(hc)):
        return
    out = []
    for spec in hc.get("Links") or []:
        child_name, alias = linkmod.parse(spec)
        try:
            child = svc.get(child_name)
        except NotFound as exc:
            raise InvalidArgument(f"could not get container for {child_name}: {exc}") from None
        if mode_of(child.host_config) == "host":
            raise InvalidArgument("conflicting options: host type networking can't be used with links. "
                                  "This would result in undefined behavior")
        out.append(f"/{child.name}:/{name}/{alias}")
    if out:
        hc["Links"] = out


def _links(svc: Any, c: Container) -> list[tuple[linkmod.Link, Container]]:
    """The container's links resolved against running children.

    Raises:
        Internal: moby's "Cannot link to a non running container".
    """
    from hako.errors import Internal

    found = []
    for entry in c.host_config.get("Links") or []:
        child_ref, _, full = entry.partition(":")
        try:
            child = svc.get(child_ref.lstrip("/"))
        except NotFound:
            child = None
        if child is None or not child.state.running:
            raise Internal(f"Cannot link to a non running container: {child_ref} AS {full}")
        ip = ((child.networking.get("Networks") or {}).get("bridge") or {}).get("IPAddress", "")
        found.append((linkmod.Link(full, ip, linkmod.exposed(child.config.get("ExposedPorts")),
                                   tuple(child.config.get("Env") or ())), child))
    return found


def _user_defined(mode: str) -> bool:
    return mode not in _BUILTIN and not mode.startswith("container:")


def _endpoint_settings(network_id: str = "", ep: Endpoint | None = None,
                       keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """EndpointSettings as inspect shows them; ``DesiredMacAddress`` (the requested MAC,
    moby's field of the same name) is kept in the record and left out of inspect."""
    keep = keep or {}
    desired = _desired_mac(keep)
    return {
        "IPAMConfig": keep.get("IPAMConfig"), "Links": keep.get("Links"), "Aliases": keep.get("Aliases"),
        "NetworkID": network_id,
        "EndpointID": ep.endpoint_id if ep else "", "Gateway": ep.gateway if ep else "",
        "IPAddress": ep.ip if ep else "", "IPPrefixLen": ep.prefixlen if ep else 0,
        "IPv6Gateway": ep.gateway6 if ep else "", "GlobalIPv6Address": ep.ip6 if ep else "",
        "GlobalIPv6PrefixLen": ep.prefixlen6 if ep else 0, "MacAddress": ep.mac if ep else desired,
        "DriverOpts": keep.get("DriverOpts"), "DesiredMacAddress": desired,
    }


def _desired_mac(settings: dict[str, Any]) -> str:
    """The MAC asked for: ``DesiredMacAddress``, or in settings without it (a client's, or a
    record written before it existed) ``MacAddress`` unless it is a running endpoint's."""
    if "DesiredMacAddress" in settings:
        return settings["DesiredMacAddress"] or ""
    return "" if settings.get("EndpointID") else settings.get("MacAddress") or ""


def _wanted(settings: dict[str, Any] | None, mac: str = "") -> dict[str, Any]:
    """What the sandbox is asked for one endpoint: ip, mac, link-local addresses."""
    settings = settings or {}
    ipam = settings.get("IPAMConfig") or {}
    return {"ip": ipam.get("IPv4Address") or "", "ip6": ipam.get("IPv6Address") or "",
            "link_local": list(ipam.get("LinkLocalIPs") or []),
            "mac": _desired_mac(settings) or mac}


def initial(net: Any, hc: dict[str, Any], endpoints: dict[str, Any] | None = None) -> dict[str, Any]:
    """``c.networking`` of a created container (no sandbox yet), with the endpoint settings
    of ``NetworkingConfig`` (aliases, requested address). An unknown network is accepted
    here and refused at start, as moby does.

    Raises:
        InvalidArgument: settings for more than one network (moby's text).
    """
    mode = mode_of(hc)
    endpoints = {("bridge" if k == "default" else k): v for k, v in (endpoints or {}).items()}
    if len(endpoints) > 1:
        raise InvalidArgument("Container cannot be connected to network endpoints: " + ", ".join(endpoints))
    if mode.startswith("container:"):
        return {"Networks": {}}
    keep = epmod.settings(endpoints.get(mode) or next(iter(endpoints.values()), None), True)
    if mode not in _BUILTIN:
        if hc.get("Links"):  # moby registers no legacy link on a user network
            keep["Links"] = keep.get("Links") or list(hc["Links"])
            hc["Links"] = None
        found = net.store.find(mode)
        if found is not None:
            mode = found["Name"]
        return {"Networks": {mode: _endpoint_settings(found["Id"] if found else "", None, keep)}}
    return {"Networks": {mode: _endpoint_settings(net.network_id(mode), None, keep)}}


def _network_record(net: Any, name: str) -> dict[str, Any] | None:
    """None for the default bridge; a user network's record.

    Raises:
        NotFound: ``network <name> not found``.
    """
    return None if name == "bridge" else net.store.get(name)


def _resolv_for(c: Container, embedded: bool, ipv6: bool = False) -> str:
    hc = c.host_config
    host = _host_file("resolv.conf")
    if embedded:
        # moby's embedded resolver: 127.0.0.11 (which forwards to --dns), search, ndots:0
        return hostsfiles.resolv_conf(host, ["127.0.0.11"], hc.get("DnsSearch"),
                                      (hc.get("DnsOptions") or []) or ["ndots:0"])
    return hostsfiles.resolv_conf(host, hc.get("Dns"), hc.get("DnsSearch"), hc.get("DnsOptions"), ipv6)


def _host_file(name: str) -> str:
    try:
        with open(os.path.join("/etc", name)) as f:
            return f.read()
    except OSError:
        return ""


def write_etc_files(c: Container, ep: Endpoint | None, links: list[tuple[str, str]] = (),
                    embedded_dns: bool = False) -> None:
    """hostname, hosts and resolv.conf of a container with its own network stack."""
    conf, hc = c.config, c.host_config
    hostname = conf.get("Hostname") or c.id[:12]
    _write(c.file("hostname"), (hostname + "\n").encode())
    extra = hostsfiles.extra_hosts(hc.get("ExtraHosts")) + list(links)
    _write(c.file("hosts"), hostsfiles.hosts_file(
        hostname, conf.get("Domainname") or "", ep.ip if ep else "", extra, ep.ip6 if ep else "").encode())
    _write(c.file("resolv.conf"), _resolv_for(c, embedded_dns, bool(ep and ep.ip6)).encode())


def _write(path: str, data: bytes) -> None:
    """An etc file of the container: derived, written again at every start (no fsync)."""
    write_bytes(path, data, durable=False)


def prepare(svc: Any, c: Container) -> tuple[str | None, bool]:
    """Before the runtime creates the container: the sandbox and the etc files.

    Returns:
        (netns path to join or None, whether the host's network stack is used).

    Raises:
        NotFound, Conflict: container mode with a missing or stopped container.
    """
    net = svc.network
    mode = mode_of(c.host_config)
    record = None
    if not mode.startswith("container:") and mode not in _BUILTIN:
        record = net.store.get(mode)
        mode = record["Name"]
    if mode == "host":
        _write(c.file("hostname"), (socket.gethostname() + "\n").encode())
        hosts = _host_file("hosts") + "".join(
            f"{addr}\t{name}\n" for name, addr in hostsfiles.extra_hosts(c.host_config.get("ExtraHosts")))
        _write(c.file("hosts"), hosts.encode())
        _write(c.file("resolv.conf"), hostsfiles.resolv_conf(
            _host_file("resolv.conf"), c.host_config.get("Dns"), c.host_config.get("DnsSearch"),
            c.host_config.get("DnsOptions")).encode())
        c.networking = {"Networks": {"host": _endpoint_settings(net.network_id("host"))},
                        "SandboxID": secrets.token_hex(32), "SandboxKey": "/var/run/hako/netns/default"}
        return None, True
    if mode.startswith("container:"):
        return _join_container(svc, c, mode[len("container:"):])
    sandbox = c.networking.get("Sandbox")
    ports = c.networking.get("Ports") or {}
    wanted = c.networking.get("Networks") or {}
    extra_docs = dict(c.networking.get("Extra") or {})
    if sandbox and net.alive(c.id):  # kept across a restart-policy restart, ports too
        ep = Endpoint.from_doc(sandbox)
    else:
        if mode in _BUILTIN:  # moby's refusals of addresses and aliases on default networks
            epmod.settings(wanted.get(mode), False)
        linked = _links(svc, c) if mode == "bridge" else []
        ep = net.attach(c.id, mode if mode in _BUILTIN else "user", network=record,
                        **_wanted(wanted.get(mode), c.config.get("MacAddress") or ""))
        extra: dict[str, Endpoint] = {}
        try:
            for name, st in wanted.items():  # networks connected while the container was stopped
                if name != mode:
                    extra[name] = net.join(c.id, _network_record(net, name), f"eth{len(extra) + 1}",
                                           **_wanted(st))
            ports = _publish(svc, c, ep) if ep.ip else {}
            records = [(linkmod.hosts_names(link.alias, child.config.get("Hostname") or "", child.name),
                        link.child_ip) for link, child in linked]
            embedded = record is not None or any(n != "bridge" for n in extra)
            write_etc_files(c, ep if ep.ip else None, records, embedded)
            net.set_links(c.id, [(ep.ip, link.child_ip, proto, port)
                                 for link, _ in linked for port, proto in link.ports])
            if embedded:
                net.start_dns(c.id, svc.dns_lookup, c.host_config.get("Dns"))
        except BaseException:
            net.stop_dns(c.id)
            net.detach(c.id, ep, list(extra.values()))
            raise
        extra_docs = {k: v.to_doc() for k, v in extra.items()}
        c.networking["LinkEnv"] = [e for link, _ in linked for e in linkmod.env(link)]
    settings = {mode: _settings_for(net, c, mode, ep if ep.ip else None, wanted.get(mode))}
    for name, doc in extra_docs.items():
        settings[name] = _settings_for(net, c, name, Endpoint.from_doc(doc), wanted.get(name))
    c.networking = {"Networks": settings, "Sandbox": ep.to_doc(), "Ports": ports, "Extra": extra_docs,
                    "SandboxID": c.networking.get("SandboxID") or secrets.token_hex(32),
                    "LinkEnv": c.networking.get("LinkEnv") or []}
    return ep.sandbox_key, False


def _settings_for(net: Any, c: Container, name: str, ep: Endpoint | None,
                  keep: dict[str, Any] | None) -> dict[str, Any]:
    """Endpoint settings; on a user network the short id joins the aliases, as moby's."""
    keep = dict(keep or {})
    if name not in _BUILTIN and ep is not None:
        aliases = list(keep.get("Aliases") or [])
        if c.id[:12] not in aliases:
            aliases.append(c.id[:12])
        keep["Aliases"] = aliases
    return _endpoint_settings(net.network_id(name), ep, keep)


def connect(svc: Any, c: Container, name: str, config: dict[str, Any]) -> None:
    """``network connect``: record the endpoint; a running container gets it now.

    Raises:
        PermissionDenied: already connected, or a host/none/container: network stack.
    """
    from hako.errors import PermissionDenied

    net = svc.network
    record = _network_record(net, name)
    name = record["Name"] if record else "bridge"
    mode = mode_of(c.host_config)
    if mode == "host" or mode == "none" or mode.startswith("container:"):
        raise PermissionDenied("container cannot be disconnected from host network or connected to host network"
                               if mode == "host" else
                               "container sharing network namespace with another container or host cannot be "
                               "connected to any other network" if mode.startswith("container:") else
                               "container cannot be connected to multiple networks with one of the networks "
                               "in private (none) mode")
    networks = c.networking.setdefault("Networks", {})
    if name in networks:
        raise PermissionDenied(f"endpoint with name {c.name} already exists in network {name}")
    keep = epmod.settings(config, record is not None)
    if c.networking.get("Sandbox") and c.state.running:
        first_user_net = record is not None and not any(n not in _BUILTIN for n in networks)
        extra = c.networking.setdefault("Extra", {})
        ep = net.join(c.id, record, f"eth{len(extra) + 1}", **_wanted(keep))
        extra[name] = ep.to_doc()
        networks[name] = _settings_for(net, c, name, ep, keep)
        if first_user_net:  # as Docker: the embedded DNS from now on
            net.start_dns(c.id, svc.dns_lookup, c.host_config.get("Dns"))
            _rewrite_in_place(c.file("resolv.conf"), _resolv_for(c, True, bool(ep.ip6)).encode())
    else:
        networks[name] = _endpoint_settings(net.network_id(name), None, keep)


def _rewrite_in_place(path: str, data: bytes) -> None:
    """Replace a file's content keeping its inode: it is bind-mounted into a running container,
    which would never see a renamed-in replacement (moby rewrites resolv.conf in place too).
    It is derived state: a torn write is rewritten whole the next time the container starts."""
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def disconnect(svc: Any, c: Container, name: str) -> None:
    """``network disconnect``.

    Raises:
        PermissionDenied: not connected (moby's text).
    """
    from hako.errors import PermissionDenied

    record = _network_record(svc.network, name)
    name = record["Name"] if record else "bridge"
    networks = c.networking.get("Networks") or {}
    if name not in networks:
        raise PermissionDenied(f"container {c.id} is not connected to network {name}")
    extra = c.networking.get("Extra") or {}
    if name in extra:
        svc.network.leave(Endpoint.from_doc(extra.pop(name)))
    elif c.networking.get("Sandbox") and networks[name].get("EndpointID"):
        sandbox = Endpoint.from_doc(c.networking["Sandbox"])
        svc.network.leave(sandbox)
        c.networking["Sandbox"] = Endpoint(sandbox_key=sandbox.sandbox_key).to_doc()
    del networks[name]


def _publish(svc: Any, c: Container, ep: Endpoint) -> dict[str, Any]:
    hc = c.host_config
    wanted = portmap.requested(c.config.get("ExposedPorts"), hc.get("PortBindings"),
                               bool(hc.get("PublishAllPorts")))
    if not wanted:
        return {}
    return svc.network.publish(c.id, ep, wanted, f"{c.name} ({ep.endpoint_id})")


def readopt(svc: Any, c: Container) -> None:
    """After a daemon restart: forward the running container's published ports again (the
    proxy lived in the old daemon); the same host ports are taken."""
    sandbox, ports = c.networking.get("Sandbox"), c.networking.get("Ports")
    if not sandbox or svc.network.published(c.id):
        return
    ep = Endpoint.from_doc(sandbox)
    if any(n not in _BUILTIN for n in c.networking.get("Networks") or {}):
        try:
            svc.network.start_dns(c.id, svc.dns_lookup, c.host_config.get("Dns"))
        except Exception as exc:  # noqa: BLE001 - names stop resolving, the rest works
            log.warning("restarting the DNS server of %s: %s", c.id[:12], exc)
    try:
        svc.network.set_links(c.id, [(ep.ip, link.child_ip, proto, port)
                                     for link, _ in _links(svc, c) for port, proto in link.ports])
    except Exception as exc:  # noqa: BLE001 - a child that is gone opens nothing
        log.warning("reopening the links of %s: %s", c.id[:12], exc)
    try:
        svc.network.publish(c.id, ep, ports, f"{c.name} ({ep.endpoint_id})")
    except Exception as exc:  # noqa: BLE001 - the container keeps running unpublished
        log.warning("republishing the ports of %s: %s", c.id[:12], exc)


def _join_container(svc: Any, c: Container, ref: str) -> tuple[str | None, bool]:
    try:
        other = svc.get(ref)
    except NotFound:
        raise NotFound(f"No such container: {ref}") from None
    if not other.state.running:
        raise Conflict(f"cannot join network of a non running container: {other.id}")
    for name in ("hostname", "hosts", "resolv.conf"):
        shutil.copyfile(other.file(name), c.file(name))
    c.networking = {"Networks": {}}
    if mode_of(other.host_config) == "host":
        return None, True
    sandbox = other.networking.get("Sandbox") or {}
    return sandbox.get("sandbox_key") or f"/proc/{other.state.pid}/ns/net", False


def release(svc: Any, c: Container) -> None:
    """Tear the sandbox down and clear the operational data (Docker's releaseNetwork)."""
    sandbox = c.networking.get("Sandbox")
    if sandbox:
        extra = [Endpoint.from_doc(d) for d in (c.networking.get("Extra") or {}).values()]
        try:
            svc.network.stop_dns(c.id)
            svc.network.detach(c.id, Endpoint.from_doc(sandbox), extra)
        except Exception as exc:  # noqa: BLE001 - a sandbox that is half gone
            log.warning("tearing down the network of %s: %s", c.id[:12], exc)
    networks = c.networking.get("Networks") or {}
    for name, settings in networks.items():
        keep = dict(settings)
        if name not in _BUILTIN and keep.get("Aliases"):
            keep["Aliases"] = [a for a in keep["Aliases"] if a != c.id[:12]] or None
        networks[name] = _endpoint_settings(settings.get("NetworkID", ""), None, keep)
    c.networking = {"Networks": networks}


def inspect_settings(c: Container) -> dict[str, Any]:
    """``NetworkSettings`` of inspect: the deprecated top-level fields mirror ``bridge``."""
    networks = {name: {k: v for k, v in st.items() if k != "DesiredMacAddress"}
                for name, st in (c.networking.get("Networks") or {}).items()}
    sandbox = c.networking.get("Sandbox") or {}
    b = networks.get("bridge") or {}
    return {
        "Bridge": "", "SandboxID": c.networking.get("SandboxID", ""), "HairpinMode": False,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": _ports(c) if sandbox else {},
        "SandboxKey": sandbox.get("sandbox_key") or c.networking.get("SandboxKey", ""),
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": b.get("EndpointID", ""), "Gateway": b.get("Gateway", ""),
        "GlobalIPv6Address": b.get("GlobalIPv6Address", ""), "GlobalIPv6PrefixLen": b.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": b.get("IPAddress", ""), "IPPrefixLen": b.get("IPPrefixLen", 0),
        "IPv6Gateway": b.get("IPv6Gateway", ""), "MacAddress": b.get("MacAddress", ""),
        "Networks": networks,
    }


def _ports(c: Container) -> dict[str, Any]:
    published = c.networking.get("Ports") or {}
    keys = portmap.port_keys(c.config.get("ExposedPorts"), c.host_config.get("PortBindings"))
    return {k: published.get(k) for k in sorted(set(keys) | set(published))}


def list_ports(c: Container) -> list[dict[str, Any]]:
    """``Ports`` of ``GET /containers/json`` (a running container's)."""
    if not c.networking.get("Sandbox"):
        return []
    out = []
    for key, items in _ports(c).items():
        port, proto = portmap.split_key(key)
        if not items:
            out.append({"PrivatePort": port, "Type": proto})
        for b in items or []:
            out.append({"IP": b["HostIp"], "PrivatePort": port, "PublicPort": int(b["HostPort"]), "Type": proto})
    return out


def lookup(svc: Any, cid: str, name: str) -> list[str]:
    """Addresses for ``name`` as the embedded DNS of container ``cid`` sees it: container
    names, aliases and short ids on the user-defined networks it shares with them, and the
    aliases of its own links on each network (moby: an alias first, then the name)."""
    try:
        me = svc.get(cid)
    except NotFound:
        return []
    mine = {n: st for n, st in (me.networking.get("Networks") or {}).items()
            if n not in _BUILTIN and st.get("EndpointID")}
    others = svc.list()
    out: list[str] = []
    for net_name, st in mine.items():
        target = epmod.link_target(st.get("Links"), name)
        found = _names_on(others, net_name, target) if target else []
        for addr in found or _names_on(others, net_name, name):
            if addr not in out:
                out.append(addr)
    return out


def _names_on(containers: list[Container], network: str, name: str) -> list[str]:
    out = []
    for other in containers:
        st = (other.networking.get("Networks") or {}).get(network)
        if st and st.get("IPAddress") and (
                name == other.name.lower() or name in [a.lower() for a in st.get("Aliases") or []]):
            out += [st["IPAddress"]] + ([st["GlobalIPv6Address"]] if st.get("GlobalIPv6Address") else [])
    return out


def endpoints(c: Container) -> list[Endpoint]:
    """The endpoints a container's record holds (its sandbox's interfaces)."""
    docs = [c.networking.get("Sandbox")] + list((c.networking.get("Extra") or {}).values())
    return [Endpoint.from_doc(d) for d in docs if d]
