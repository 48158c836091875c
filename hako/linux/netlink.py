"""Links, addresses, routes and network namespaces: mechanism only, no defaults or policy.

The backend is ``hako.linux.rtnl`` (rtnetlink requests). Every call here opens a netlink
socket, uses it and closes it, from the calling thread (a socket belongs to the namespace of
the thread that opened it); the calls block, so not from a running asyncio loop.

Namespaces are made without forking (the daemon is multithreaded): a fresh thread
``unshare(CLONE_NEWNET)``\\ s (a network namespace is per thread in Linux) and bind-mounts its
``/proc/thread-self/ns/net`` on the namespace file; the thread then ends. Work inside a
namespace runs the same way in a thread that ``setns``\\ ed into it, and the thread checks that
it really is in the namespace before touching anything (the netlink socket is opened in that
thread).

Layer: linux (2). May import: errors, support.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from typing import Any, Callable, TypeVar

from hako.linux import syscalls
from hako.linux.rtnl import NetlinkError, Rtnl  # NetlinkError: what the functions here raise

T = TypeVar("T")

_MS_BIND = 0x1000
_MNT_DETACH = 2


def _nl() -> Rtnl:
    return Rtnl()


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
    with _nl() as nl:
        return nl.link_index(name)


def link_delete(name: str) -> bool:
    """Delete link ``name``; False when it did not exist."""
    with _nl() as nl:
        index = nl.link_index(name)
        if index is None:
            return False
        try:
            nl.link_del(index)
        except NetlinkError as exc:
            if exc.errno != 19:  # ENODEV: gone meanwhile
                raise
    return True


def link_kind(name: str) -> str:
    """The kind (``bridge``, ``veth``…) of link ``name``, or "" when unknown."""
    with _nl() as nl:
        link = nl.link(name)
    return link["kind"] if link else ""


def bridge_create(name: str, mtu: int = 0) -> None:
    """Create bridge ``name`` (down, no address). Raises NetlinkError (EEXIST)."""
    with _nl() as nl:
        nl.link_add(name, "bridge", mtu)


def link_up(name: str) -> None:
    with _nl() as nl:
        nl.link_set(_index(nl, name), up=True)


def link_mtu(name: str) -> int:
    with _nl() as nl:
        link = nl.link(name)
    return link["mtu"] if link else 0


def _index(nl: Rtnl, name: str) -> int:
    index = nl.link_index(name)
    if index is None:
        raise NetlinkError(19, f"{os.strerror(19)}: {name}")
    return index


def addr_add(name: str, cidr: str) -> None:
    """Add ``cidr`` (address/prefix; an IPv6 one without duplicate address detection) to
    link ``name``."""
    with _nl() as nl:
        nl.addr_add(_index(nl, name), cidr)


def link_addrs(name: str, family: int = 4) -> list[str]:
    """IPv4 (or, ``family`` 6, global IPv6) addresses of link ``name`` as ``address/prefix``."""
    with _nl() as nl:
        index = nl.link_index(name)
        if index is None:
            return []
        addrs = nl.addrs(socket.AF_INET if family == 4 else socket.AF_INET6, index)
    return [f"{a}/{p}" for a, p, _ in addrs
            if family == 4 or not ipaddress.ip_address(a).is_link_local]


def ip_networks(family: int = 4) -> list[str]:
    """Every IPv4 (or IPv6) network of the current namespace: route destinations and the
    networks of addresses on any link (what a new subnet must not overlap); loopback and
    link-local ones left out."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    with _nl() as nl:
        nets = [f"{dst}/{length}" for dst, length in nl.routes(af) if dst and length]
        nets += [str(ipaddress.ip_interface(f"{a}/{p}").network) for a, p, _ in nl.addrs(af)]
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
        with _nl() as nl:
            master_index = _index(nl, master)
            nl.veth_add(host_name, peer_name, fd, mtu, peer_mac)
            try:
                nl.link_set(_index(nl, host_name), up=True, master=master_index)
            except BaseException:
                nl.link_del(_index(nl, host_name))
                raise
    finally:
        os.close(fd)


def configure_inside(netns_path: str, ifname: str, cidrs: list[str], gateway: str, gateway6: str = "") -> None:
    """In the namespace: ``lo`` up; ``ifname`` (when given) gets the addresses ``cidrs``
    (address/prefix), goes up and carries the default routes via ``gateway`` and
    ``gateway6`` (when given)."""

    def work() -> None:
        with _nl() as nl:
            nl.link_set(_index(nl, "lo"), up=True)
            if not ifname:
                return
            index = _index(nl, ifname)
            for cidr in cidrs:
                nl.addr_add(index, cidr)
            nl.link_set(index, up=True)
            for gw in (gateway, gateway6):
                if gw:
                    nl.default_route_add(gw, index)

    in_netns(netns_path, work)


def links_inside(netns_path: str) -> list[dict[str, Any]]:
    """Links of a namespace: name, MAC address, state and IPv4 addresses."""

    def work() -> list[dict[str, Any]]:
        with _nl() as nl:
            addrs = nl.addrs(socket.AF_INET)
            return [{"name": link["name"], "mac": link["mac"], "up": bool(link["flags"] & 1),
                     "addrs": [f"{a}/{p}" for a, p, i in addrs if i == link["index"]]}
                    for link in nl.links()]

    return in_netns(netns_path, work)
