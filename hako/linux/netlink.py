"""Links, addresses, routes and network namespaces: mechanism only, no defaults or policy.

The backend is pyroute2 (netlink); nothing outside this module imports it. Its sync API
runs a private event loop per socket, so every call here opens a socket, uses it and closes
it, from the calling thread; never call these functions from a running asyncio loop. A
container's sandbox (``setup_sandbox``, on the start path) is made with ``rtnl.py``'s fixed
requests instead: pyroute2 cost several milliseconds of CPU per start.

Namespaces are made without forking (the daemon is multithreaded): a fresh thread
``unshare(CLONE_NEWNET)``\\ s (a network namespace is per thread in Linux) and bind-mounts its
``/proc/thread-self/ns/net`` on the namespace file; the thread then ends. Work inside a
namespace runs the same way in a thread that ``setns``\\ ed into it, and the thread checks that
it really is in the namespace before touching anything (pyroute2 opens its socket lazily, in
the thread that first uses it).

Layer: linux (2). May import: errors, support.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from typing import Any, Callable, TypeVar

from hako.linux import rtnl, syscalls
from hako.linux.rtnl import NetlinkError  # noqa: F401 - the error of both clients

T = TypeVar("T")

_MS_BIND = 0x1000
_MNT_DETACH = 2
_IFA_F_NODAD = 0x02  # an IPv6 address usable at once (no duplicate address detection)


def _ipr() -> Any:
    from pyroute2 import IPRoute

    return IPRoute()


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from pyroute2.netlink.exceptions import NetlinkError as _PrError

    try:
        return fn(*args, **kwargs)
    except _PrError as exc:
        raise NetlinkError(exc.code, os.strerror(exc.code)) from None


# -- namespaces ---------------------------------------------------------------------------
def remove_netns(path: str) -> None:
    """Unmount and delete a namespace file (the namespace dies with its last user)."""
    try:
        syscalls.umount2(path, _MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def is_netns(path: str) -> bool:
    """Whether ``path`` is a namespace file with a namespace mounted on it (nsfs)."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path) or ".").st_dev
    except OSError:
        return False


def in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread that has entered the namespace at ``path``.

    Raises:
        OSError: the namespace cannot be entered; whatever ``fn`` raises.
    """

    def work() -> T:
        _enter(path)
        return fn()

    return _in_thread(work, "netns-work")


# -- links --------------------------------------------------------------------------------
def link_index(name: str) -> int | None:
    """The index of link ``name`` in the current namespace, or None."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def link_delete(name: str) -> bool:
    """Delete link ``name``; False when it did not exist."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return False
        try:
            _call(ipr.link, "del", index=found[0])
        except NetlinkError as exc:
            if exc.errno != 19:  # ENODEV: gone meanwhile
                raise
    return True


def link_kind(name: str) -> str:
    """The kind (``bridge``, ``veth``…) of link ``name``, or "" when unknown."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return ""
        link = ipr.get_links(found[0])[0]
    info = link.get("IFLA_LINKINFO")
    return (info.get("IFLA_INFO_KIND") if info else "") or ""


def bridge_create(name: str, mtu: int = 0) -> None:
    """Create bridge ``name`` (down, no address). Raises NetlinkError (EEXIST)."""
    with _ipr() as ipr:
        kwargs: dict[str, Any] = {"ifname": name, "kind": "bridge"}
        if mtu:
            kwargs["mtu"] = mtu
        _call(ipr.link, "add", **kwargs)


def link_up(name: str) -> None:
    with _ipr() as ipr:
        _call(ipr.link, "set", index=ipr.link_lookup(ifname=name)[0], state="up")


def link_mtu(name: str) -> int:
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        return int(ipr.get_links(found[0])[0].get("IFLA_MTU")) if found else 0


def _add_address(ipr: Any, index: int, cidr: str) -> None:
    iface = ipaddress.ip_interface(cidr)
    kwargs: dict[str, Any] = {}
    if iface.version == 6:
        kwargs = {"family": socket.AF_INET6, "flags": _IFA_F_NODAD}
    _call(ipr.addr, "add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen, **kwargs)


def addr_add(name: str, cidr: str) -> None:
    """Add ``cidr`` (address/prefix; an IPv6 one without duplicate address detection) to
    link ``name``."""
    with _ipr() as ipr:
        _add_address(ipr, ipr.link_lookup(ifname=name)[0], cidr)


def link_addrs(name: str, family: int = 4) -> list[str]:
    """IPv4 (or, ``family`` 6, global IPv6) addresses of link ``name`` as ``address/prefix``."""
    with _ipr() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return []
        addrs = ipr.get_addr(index=found[0], family=socket.AF_INET if family == 4 else socket.AF_INET6)
        return [f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}" for a in addrs
                if family == 4 or not ipaddress.ip_address(a.get("IFA_ADDRESS")).is_link_local]


def ip_networks(family: int = 4) -> list[str]:
    """Every IPv4 (or IPv6) network of the current namespace: route destinations and the
    networks of addresses on any link (what a new subnet must not overlap); loopback and
    link-local ones left out."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    nets: list[str] = []
    with _ipr() as ipr:
        for r in ipr.get_routes(family=af, table=254):
            dst = r.get("RTA_DST")
            if dst and r["dst_len"]:
                nets.append(f"{dst}/{r['dst_len']}")
        for a in ipr.get_addr(family=af):
            nets.append(str(ipaddress.ip_interface(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}").network))
    return [n for n in nets if ipaddress.ip_network(n).prefixlen < (32 if family == 4 else 128)
            and not ipaddress.ip_network(n).is_loopback and not ipaddress.ip_network(n).is_link_local]


def ipv4_networks() -> list[str]:
    return ip_networks(4)


def setup_sandbox(path: str, create: bool = True, veth: tuple[str, str] | None = None, master: str = "",
                  mtu: int = 0, mac: str = "", cidrs: list[str] = (), gateway: str = "",
                  gateway6: str = "") -> None:
    """Make (``create``) or enter the network namespace at ``path`` and give it its interface,
    in one fresh thread and with two netlink sockets (the start path's sandbox; see rtnl.py).

    With ``create``, the namespace is new (pinned by a bind mount on ``path``, created) and
    its ``lo`` goes up. With ``veth`` (host name, name inside), a veth pair joins the
    namespace to bridge ``master``: the host end enslaved and up, the inner end with ``mac``,
    up, the addresses ``cidrs`` (address/prefix) and the default routes via ``gateway`` and
    ``gateway6`` (when given).

    Raises:
        OSError, NetlinkError: the kernel refused; nothing is left behind (a namespace made
        here is removed, a veth made in an existing namespace deleted).
    """
    master_index = socket.if_nametoindex(master) if veth else 0
    if create:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
        os.close(fd)

    def work() -> None:
        host = rtnl.Socket() if veth else None  # in the daemon's namespace
        try:
            if create:
                syscalls.unshare(syscalls.CLONE_NEWNET)
                syscalls.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, _MS_BIND)
            else:
                _enter(path)
            if veth is None:
                with rtnl.Socket() as inner:
                    inner.run(rtnl.link_up(_LOOPBACK_INDEX))
                return
            _add_veth(host, path, veth, master_index, mtu, mac, cidrs, gateway, gateway6, create)
        finally:
            if host is not None:
                host.close()

    try:
        _in_thread(work, "netns-setup")
    except BaseException:
        if create:
            remove_netns(path)
        raise


_LOOPBACK_INDEX = 1  # the kernel registers each namespace's loopback first, as index 1


def _add_veth(host: rtnl.Socket, path: str, veth: tuple[str, str], master_index: int, mtu: int,
              mac: str, cidrs: list[str], gateway: str, gateway6: str, fresh: bool) -> None:
    """The veth pair and the inner end's addresses and routes (the calling thread is in the
    namespace at ``path``; ``host`` is a socket of the daemon's namespace)."""
    host_name, inner_name = veth
    ns = os.open(path, os.O_RDONLY)
    try:
        host.run(rtnl.veth(host_name, inner_name, ns, master_index, mtu, mac))
    finally:
        os.close(ns)
    try:
        index = socket.if_nametoindex(inner_name)  # asks this thread's namespace
        requests = [rtnl.link_up(_LOOPBACK_INDEX)] if fresh else []
        requests += [rtnl.addr_add(index, cidr) for cidr in cidrs] + [rtnl.link_up(index)]
        requests += [rtnl.default_route(index, gw) for gw in (gateway, gateway6) if gw]
        with rtnl.Socket() as inner:
            inner.run(*requests)
    except BaseException:
        if not fresh:  # a namespace made here takes the pair with it when it is removed
            try:
                host.run(rtnl.link_delete(host_name))
            except OSError:
                pass
        raise


def _enter(path: str) -> None:
    """Move the calling thread into the network namespace at ``path``, and check it is there.

    Raises:
        OSError: the namespace cannot be entered.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        syscalls.setns(fd, syscalls.CLONE_NEWNET)
        want = os.fstat(fd).st_ino
    finally:
        os.close(fd)
    if os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/net").st_ino != want:
        raise OSError(f"could not enter network namespace {path}")


def _in_thread(fn: Callable[[], T], name: str) -> T:
    """Run ``fn`` in a fresh thread (a thread's network namespace is its own) and return
    what it returns, or raise what it raises."""
    result: list[Any] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    t = threading.Thread(target=work, name=name)
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


def links_inside(netns_path: str) -> list[dict[str, Any]]:
    """Links of a namespace: name, MAC address, state and IPv4 addresses."""

    def work() -> list[dict[str, Any]]:
        with _ipr() as ipr:
            out = []
            for link in ipr.get_links():
                index = link["index"]
                addrs = [f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=index, family=2)]
                out.append({"name": link.get("IFLA_IFNAME"), "mac": link.get("IFLA_ADDRESS"),
                            "up": bool(link["flags"] & 1), "addrs": addrs})
            return out

    return in_netns(netns_path, work)
