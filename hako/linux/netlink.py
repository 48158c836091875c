"""Links, addresses, routes and network namespaces: mechanism only, no defaults or policy.

The backend is pyroute2 (netlink); nothing outside this module imports it. Its sync API
runs a private event loop per socket, so every call here opens a socket, uses it and closes
it, from the calling thread; never call these functions from a running asyncio loop.

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

from hako.linux import syscalls

T = TypeVar("T")

_MS_BIND = 0x1000
_MNT_DETACH = 2
_IFA_F_NODAD = 0x02  # an IPv6 address usable at once (no duplicate address detection)


def _ipr() -> Any:
    from pyroute2 import IPRoute

    return IPRoute()


class NetlinkError(OSError):
    """A netlink request failed (errno and message as the kernel gave them)."""


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from pyroute2.netlink.exceptions import NetlinkError as _PrError

    try:
        return fn(*args, **kwargs)
    except _PrError as exc:
        raise NetlinkError(exc.code, os.strerror(exc.code)) from None


# -- namespaces ---------------------------------------------------------------------------
def create_netns(path: str) -> None:
    """Make a new network namespace pinned by a bind mount on ``path`` (created).

    Raises:
        OSError: the file exists, or the kernel refused.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)
    error: list[BaseException] = []

    def work() -> None:
        try:
            syscalls.unshare(syscalls.CLONE_NEWNET)
            syscalls.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, _MS_BIND)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    t = threading.Thread(target=work, name="netns-create")
    t.start()
    t.join()
    if error:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise error[0]


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
    result: list[Any] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                syscalls.setns(fd, syscalls.CLONE_NEWNET)
                want = os.fstat(fd).st_ino
            finally:
                os.close(fd)
            if os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/net").st_ino != want:
                raise OSError(f"could not enter network namespace {path}")
            result.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    t = threading.Thread(target=work, name="netns-work")
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


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


def veth_create(host_name: str, peer_name: str, netns_path: str, master: str, mtu: int = 0,
                peer_mac: str = "") -> None:
    """Create a veth pair: ``host_name`` here, enslaved to ``master`` and up; ``peer_name``
    inside the namespace at ``netns_path`` (down).

    Raises:
        NetlinkError: the kernel refused (the pair is removed again).
    """
    fd = os.open(netns_path, os.O_RDONLY)
    try:
        with _ipr() as ipr:
            peer: dict[str, Any] = {"ifname": peer_name, "net_ns_fd": fd}
            if mtu:
                peer["mtu"] = mtu
            if peer_mac:
                peer["address"] = peer_mac
            kwargs: dict[str, Any] = {"ifname": host_name, "kind": "veth", "peer": peer}
            if mtu:
                kwargs["mtu"] = mtu
            _call(ipr.link, "add", **kwargs)
            try:
                index = ipr.link_lookup(ifname=host_name)[0]
                _call(ipr.link, "set", index=index, master=ipr.link_lookup(ifname=master)[0], state="up")
            except BaseException:
                _call(ipr.link, "del", index=ipr.link_lookup(ifname=host_name)[0])
                raise
    finally:
        os.close(fd)


def configure_inside(netns_path: str, ifname: str, cidrs: list[str], gateway: str, gateway6: str = "") -> None:
    """In the namespace: ``lo`` up; ``ifname`` (when given) gets the addresses ``cidrs``
    (address/prefix), goes up and carries the default routes via ``gateway`` and
    ``gateway6`` (when given)."""

    def work() -> None:
        with _ipr() as ipr:
            _call(ipr.link, "set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            if not ifname:
                return
            index = ipr.link_lookup(ifname=ifname)[0]
            for cidr in cidrs:
                _add_address(ipr, index, cidr)
            _call(ipr.link, "set", index=index, state="up")
            if gateway:
                _call(ipr.route, "add", gateway=gateway, oif=index)
            if gateway6:
                _call(ipr.route, "add", family=socket.AF_INET6, dst="::/0", gateway=gateway6, oif=index)

    in_netns(netns_path, work)


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
