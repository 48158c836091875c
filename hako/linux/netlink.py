"""Links, addresses, routes and network namespaces: mechanism only, no defaults or policy.

The backend is ``hako.linux.rtnl`` (rtnetlink requests). Every call here opens a netlink
socket, uses it and closes it, from the calling thread (a socket belongs to the namespace of
the thread that opened it); the calls block, so not from a running asyncio loop. A
container's sandbox (``setup_sandbox``, on the start path) is made in one thread, its fixed
requests batched in one datagram per namespace.

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
from hako.linux import rtnl
from hako.linux.rtnl import NetlinkError, Rtnl  # NetlinkError: what the functions here raise

T = TypeVar("T")

_MS_BIND = 0x1000


def _nl() -> Rtnl:
    return Rtnl()


# -- namespaces ---------------------------------------------------------------------------
def remove_netns(path: str) -> None:
    """Unmount and delete a namespace file (the namespace dies with its last user)."""
    try:
        syscalls.umount2(path, syscalls.MNT_DETACH)
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
        host = Rtnl() if veth else None  # in the daemon's namespace
        try:
            if create:
                syscalls.unshare(syscalls.CLONE_NEWNET)
                syscalls.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, _MS_BIND)
            else:
                _enter(path)
            if veth is None:
                with Rtnl() as inner:
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


def _add_veth(host: Rtnl, path: str, veth: tuple[str, str], master_index: int, mtu: int,
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
        with Rtnl() as inner:
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
        with _nl() as nl:
            addrs = nl.addrs(socket.AF_INET)
            return [{"name": link["name"], "mac": link["mac"], "up": bool(link["flags"] & 1),
                     "addrs": [f"{a}/{p}" for a, p, i in addrs if i == link["index"]]}
                    for link in nl.links()]

    return in_netns(netns_path, work)
