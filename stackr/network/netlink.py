"""The netlink requests stackr makes, as a small Protocol over pyroute2's ``IPRoute``.

``Netlink`` is what bridge/veth/attach code talks to: a handful of verbs, each naming
an interface, each failing as a ``HostError`` that names the interface and the errno.
``PyrouteNetlink`` does them through ``pyroute2.IPRoute``; ``RecordingNetlink`` is an
in-memory fake that records the call sequence for unit tests and simulates just enough
kernel behaviour (links exist or not, EEXIST/ENODEV) to test idempotency.

Which network namespace a ``PyrouteNetlink`` works in is the namespace of the thread
that *opened* it: a netlink socket belongs to the netns current when it was created,
whichever thread uses it afterwards. ``stackr.network.netns.run_in_netns`` relies on
this (see there for why we do not use pyroute2's own ``netns=`` support).

One instance must be used by one thread at a time: pyroute2 0.9 keeps its asyncio
transport in thread-local storage, so an ``IPRoute`` shared across threads would set up
a second transport on the same socket. Callers open one per operation (it costs
about 2 ms) instead of sharing one.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from stackr.errors import HostError


class Netlink(Protocol):
    def link_exists(self, ifname: str) -> bool: ...

    def link_names(self) -> list[str]: ...

    def add_bridge(self, ifname: str) -> None:
        """Create a bridge; EEXIST is success (the caller owns the name)."""

    def add_veth(
        self, ifname: str, peer_ifname: str, peer_netns_fd: int, master_ifname: str
    ) -> None:
        """A veth pair, up, a port of ``master_ifname``, whose peer is created directly
        inside the netns given by fd (down: it is configured from inside)."""

    def delete_link(self, ifname: str) -> None:
        """Delete a link; an absent link is success."""

    def set_up(self, ifname: str) -> None: ...

    def set_master(self, ifname: str, master_ifname: str) -> None: ...

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        """Add an IPv4 address; already present is success."""

    def add_default_route(self, gateway: str) -> None: ...

    def ipv4_networks(self) -> tuple[list[str], list[str]]:
        """(addresses as "a.b.c.d/len", route destinations as "a.b.c.d/len") of IPv4."""


def _host_error(action: str, target: str, error: Exception) -> HostError:
    code = getattr(error, "code", None)
    if code is None:
        code = getattr(error, "errno", None)
    return HostError(
        f"netlink {action}", target, code if isinstance(code, int) else None, str(error)
    )


class PyrouteNetlink:
    """``Netlink`` over ``pyroute2.IPRoute``, in the netns of the thread that opens it."""

    def __init__(self) -> None:
        from pyroute2 import IPRoute  # lazily: pyroute2 takes ~100 ms to import

        self._ipr: Any = IPRoute()

    def close(self) -> None:
        self._ipr.close()

    def _index(self, ifname: str) -> int:
        # if_nametoindex (an ioctl on a socket of the calling thread's netns) instead of
        # pyroute2's link_lookup, which dumps every link (~5 ms, growing with the host).
        # Valid because a PyrouteNetlink is only used by the thread that opened it, in
        # the netns it was opened in (see the module docstring).
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            raise HostError("netlink lookup", ifname, errno.ENODEV) from None

    def link_exists(self, ifname: str) -> bool:
        try:
            socket.if_nametoindex(ifname)
        except OSError:
            return False
        return True

    def link_names(self) -> list[str]:
        return sorted(str(link.get("ifname")) for link in self._ipr.get_links())

    def _add_link(self, ifname: str, **options: Any) -> None:
        try:
            self._ipr.link("add", ifname=ifname, **options)
        except Exception as error:
            if getattr(error, "code", None) == errno.EEXIST:
                return
            raise _host_error(f"add {options.get('kind', 'link')}", ifname, error) from error

    def add_bridge(self, ifname: str) -> None:
        self._add_link(ifname, kind="bridge")

    def add_veth(
        self, ifname: str, peer_ifname: str, peer_netns_fd: int, master_ifname: str
    ) -> None:
        # One request does it all: the peer is created inside the target netns
        # (IFLA_NET_NS_FD on the peer: no move, no rename), the host end joins the
        # bridge (IFLA_MASTER) and comes up in the same RTM_NEWLINK.
        try:
            self._ipr.link(
                "add",
                ifname=ifname,
                kind="veth",
                master=self._index(master_ifname),
                state="up",
                peer={"ifname": peer_ifname, "net_ns_fd": peer_netns_fd},
            )
        except Exception as error:
            raise _host_error("add veth", f"{ifname} (peer {peer_ifname})", error) from error

    def delete_link(self, ifname: str) -> None:
        try:
            self._ipr.link("del", ifname=ifname)
        except Exception as error:
            if getattr(error, "code", None) in (errno.ENODEV, errno.ENOENT):
                return
            raise _host_error("delete link", ifname, error) from error

    def set_up(self, ifname: str) -> None:
        try:
            self._ipr.link("set", index=self._index(ifname), state="up")
        except HostError:
            raise
        except Exception as error:
            raise _host_error("set up", ifname, error) from error

    def set_master(self, ifname: str, master_ifname: str) -> None:
        try:
            self._ipr.link("set", index=self._index(ifname), master=self._index(master_ifname))
        except HostError:
            raise
        except Exception as error:
            raise _host_error(f"set master {master_ifname} of", ifname, error) from error

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        try:
            self._ipr.addr("add", index=self._index(ifname), address=address, prefixlen=prefixlen)
        except HostError:
            raise
        except Exception as error:
            if getattr(error, "code", None) == errno.EEXIST:
                return
            raise _host_error(f"add address {address}/{prefixlen} to", ifname, error) from error

    def add_default_route(self, gateway: str) -> None:
        try:
            self._ipr.route("replace", dst="0.0.0.0/0", gateway=gateway)
        except Exception as error:
            raise _host_error("add default route via", gateway, error) from error

    def ipv4_networks(self) -> tuple[list[str], list[str]]:
        addresses = [
            f"{a.get('address')}/{a['prefixlen']}"
            for a in self._ipr.get_addr(family=socket.AF_INET)
        ]
        routes = []
        # every routing table (pyroute2 0.9 dumps all of them when no table is given),
        # not only main: policy routing (VPNs) lives elsewhere
        for route in self._ipr.get_routes(family=socket.AF_INET):
            dst = route.get("dst")
            if dst and route.get("type") in (1, None):  # RTN_UNICAST: skip local/broadcast
                routes.append(f"{dst}/{route['dst_len']}")
        return addresses, routes


_host_handles = threading.local()


def host_netlink() -> PyrouteNetlink:
    """This thread's netlink handle in the host netns, opened once per thread.

    Saves opening a socket (~3 ms) per operation on the engine's hot path. Safe because
    engine threads never change netns (only the fresh threads of ``netns`` do, and they
    do not call this), and each thread has its own handle (see the module docstring).
    """
    handle = getattr(_host_handles, "netlink", None)
    if handle is None:
        handle = PyrouteNetlink()
        _host_handles.netlink = handle
    return handle


@contextmanager
def open_netlink() -> Iterator[PyrouteNetlink]:
    netlink = PyrouteNetlink()
    try:
        yield netlink
    finally:
        netlink.close()


@dataclass
class RecordingNetlink:
    """A fake ``Netlink``: records calls as tuples, keeps a set of links, raises like the kernel.

    One fake stands for both sides (host and container netns): a veth's peer shows up in
    ``links`` too and goes away with it.
    """

    links: set[str] = field(default_factory=lambda: {"lo"})
    peers: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)

    def _need(self, ifname: str) -> None:
        if ifname not in self.links:
            raise HostError("netlink lookup", ifname, errno.ENODEV)

    def link_exists(self, ifname: str) -> bool:
        return ifname in self.links

    def link_names(self) -> list[str]:
        return sorted(self.links)

    def add_bridge(self, ifname: str) -> None:
        self.calls.append(("add_bridge", ifname))
        self.links.add(ifname)

    def add_veth(
        self, ifname: str, peer_ifname: str, peer_netns_fd: int, master_ifname: str
    ) -> None:
        self.calls.append(("add_veth", ifname, peer_ifname, master_ifname))
        self._need(master_ifname)
        if ifname in self.links:
            raise HostError("netlink add veth", ifname, errno.EEXIST)
        self.links.add(ifname)
        self.links.add(peer_ifname)
        self.peers[ifname] = peer_ifname

    def delete_link(self, ifname: str) -> None:
        self.calls.append(("delete_link", ifname))
        self.links.discard(ifname)
        self.links.discard(self.peers.pop(ifname, ""))

    def set_up(self, ifname: str) -> None:
        self.calls.append(("set_up", ifname))
        self._need(ifname)

    def set_master(self, ifname: str, master_ifname: str) -> None:
        self.calls.append(("set_master", ifname, master_ifname))
        self._need(ifname)
        self._need(master_ifname)

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        self.calls.append(("add_address", ifname, f"{address}/{prefixlen}"))
        self._need(ifname)

    def add_default_route(self, gateway: str) -> None:
        self.calls.append(("add_default_route", gateway))

    def ipv4_networks(self) -> tuple[list[str], list[str]]:
        return list(self.addresses), list(self.routes)
