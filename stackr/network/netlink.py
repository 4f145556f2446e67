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
import math
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from stackr.errors import HostError

# How long a released sandbox's veths may take to go with their namespace: the kernel
# destroys namespaces in a workqueue, in batches (tens of ms under a teardown's load).
VETH_GONE_SECONDS = 1.0


class NetnsNetlink(Protocol):
    """The requests made inside a container's netns (see ``RawNetlink``)."""

    def set_up(self, ifname: str) -> None: ...

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        """Add an IPv4 address; already present is success."""

    def add_default_route(self, gateway: str) -> None: ...


class Netlink(NetnsNetlink, Protocol):
    def link_exists(self, ifname: str) -> bool: ...

    def wait_links_gone(self, ifnames: Sequence[str], timeout: float) -> list[str]:
        """Wait until none of ``ifnames`` exists, at most ``timeout`` seconds; those
        still there."""

    def link_names(self) -> list[str]: ...

    def bridge_ports(self, bridge_ifname: str) -> list[str]:
        """The links enslaved to ``bridge_ifname`` (none when it is absent)."""

    def add_bridge(self, ifname: str) -> None:
        """Create a bridge; EEXIST is success (the caller owns the name)."""

    def add_veth(
        self, ifname: str, peer_ifname: str, peer_netns_fd: int, master_ifname: str,
        peer_address: str | None = None,
    ) -> None:
        """A veth pair, up, a port of ``master_ifname``, whose peer is created directly
        inside the netns given by fd (down: it is configured from inside), with the
        Ethernet address ``peer_address`` when given."""

    def delete_link(self, ifname: str) -> None:
        """Delete a link; an absent link is success."""

    def unlist_links(self, ifnames: Sequence[str]) -> None:
        """``delete_link`` of each, together, returning once they are gone from view
        (names free, addresses and routes gone) rather than once the kernel has freed
        them."""

    def set_master(self, ifname: str, master_ifname: str) -> None: ...

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

        # groups=0: no multicast subscription. pyroute2's default (RTMGRP_DEFAULTS) makes
        # the socket receive every link/address/route event of the host, which a
        # long-lived handle then parses on each request: attach got slower as the host
        # got busier (and the queue can overflow with ENOBUFS).
        self._ipr: Any = IPRoute(groups=0)

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
        return _link_exists(ifname)

    def wait_links_gone(self, ifnames: Sequence[str], timeout: float) -> list[str]:
        return wait_links_gone(ifnames, timeout)

    def bridge_ports(self, bridge_ifname: str) -> list[str]:
        return _bridge_ports(bridge_ifname)

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
        self, ifname: str, peer_ifname: str, peer_netns_fd: int, master_ifname: str,
        peer_address: str | None = None,
    ) -> None:
        # One request does it all: the peer is created inside the target netns
        # (IFLA_NET_NS_FD on the peer: no move, no rename), the host end joins the
        # bridge (IFLA_MASTER) and comes up in the same RTM_NEWLINK.
        peer: dict[str, Any] = {"ifname": peer_ifname, "net_ns_fd": peer_netns_fd}
        if peer_address is not None:
            peer["address"] = peer_address
        try:
            self._ipr.link(
                "add",
                ifname=ifname,
                kind="veth",
                master=self._index(master_ifname),
                state="up",
                peer=peer,
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

    def unlist_links(self, ifnames: Sequence[str]) -> None:
        for ifname in ifnames:
            self.delete_link(ifname)

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


class RawNetlink:
    """``Netlink`` as synchronous RTNL requests on a plain netlink socket.

    Used on the hot path of every attachment, on the host and inside container
    namespaces: pyroute2's ``IPRoute`` sets up an asyncio loop and transport per
    instance (~3 ms) and runs one loop iteration per request; on a plain socket a veth
    pair is created in 1.7 ms instead of 3.8 ms, and the three requests made inside a
    netns take well under a millisecond. pyroute2 still encodes the messages (its
    ``ifinfmsg``/``ifaddrmsg``/``rtmsg`` classes), so no byte layout is written here;
    the one dump (``ipv4_networks``, once per new network) is left to ``IPRoute``.
    Like every netlink socket, it works in the netns of the thread that opened it.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._sequence = 0

    def close(self) -> None:
        self._sock.close()

    def _request(
        self, message: Any, message_type: int, flags: int, action: str, target: str
    ) -> None:
        from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST

        self._sequence += 1
        message["header"]["type"] = message_type
        message["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        message["header"]["sequence_number"] = self._sequence
        message.encode()
        self._sock.send(message.data)
        while True:
            reply = self._sock.recv(65536)
            offset = 0
            while offset + 20 <= len(reply):
                length, kind, _, sequence, _, error = struct.unpack_from("=IHHIIi", reply, offset)
                offset += max(length, 20)
                if kind == NLMSG_ERROR and sequence == self._sequence:
                    if error == 0:
                        return
                    raise HostError(f"netlink {action}", target, -error)

    def _index(self, ifname: str) -> int:
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            raise HostError("netlink lookup", ifname, errno.ENODEV) from None

    def set_up(self, ifname: str) -> None:
        from pyroute2.netlink.rtnl import RTM_NEWLINK
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        message = ifinfmsg()
        message["index"] = self._index(ifname)
        message["flags"] = IFF_UP
        message["change"] = IFF_UP
        self._request(message, RTM_NEWLINK, 0, "set up", ifname)

    def link_exists(self, ifname: str) -> bool:
        return _link_exists(ifname)

    def wait_links_gone(self, ifnames: Sequence[str], timeout: float) -> list[str]:
        return wait_links_gone(ifnames, timeout)

    def bridge_ports(self, bridge_ifname: str) -> list[str]:
        return _bridge_ports(bridge_ifname)

    def link_names(self) -> list[str]:
        return sorted(name for _, name in socket.if_nameindex())

    def _new_link(self, ifname: str, attrs: list[Any], action: str, up: bool = False) -> None:
        from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
        from pyroute2.netlink.rtnl import RTM_NEWLINK
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        message = ifinfmsg()
        if up:
            message["flags"] = IFF_UP
            message["change"] = IFF_UP
        message["attrs"] = [("IFLA_IFNAME", ifname), *attrs]
        self._request(message, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, action, ifname)

    def add_bridge(self, ifname: str) -> None:
        try:
            self._new_link(
                ifname, [("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})], "add bridge"
            )
        except HostError as error:
            if error.errno != errno.EEXIST:
                raise

    def add_veth(
        self, ifname: str, peer_ifname: str, peer_netns_fd: int, master_ifname: str,
        peer_address: str | None = None,
    ) -> None:
        # One request does it all: the peer is created inside the target netns
        # (IFLA_NET_NS_FD on the peer: no move, no rename), the host end joins the
        # bridge (IFLA_MASTER) and comes up in the same RTM_NEWLINK.
        peer_attrs: list[Any] = [("IFLA_IFNAME", peer_ifname), ("IFLA_NET_NS_FD", peer_netns_fd)]
        if peer_address is not None:
            peer_attrs.append(("IFLA_ADDRESS", peer_address))
        peer = {"attrs": peer_attrs}
        linkinfo = {
            "attrs": [
                ("IFLA_INFO_KIND", "veth"),
                ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]}),
            ]
        }
        self._new_link(
            ifname,
            [("IFLA_MASTER", self._index(master_ifname)), ("IFLA_LINKINFO", linkinfo)],
            f"add veth (peer {peer_ifname}) to",
            up=True,
        )

    def delete_link(self, ifname: str) -> None:
        from pyroute2.netlink.rtnl import RTM_DELLINK
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        try:
            index = socket.if_nametoindex(ifname)
        except OSError:
            return  # absent is success
        message = ifinfmsg()
        message["index"] = index
        try:
            self._request(message, RTM_DELLINK, 0, "delete link", ifname)
        except HostError as error:
            if error.errno not in (errno.ENODEV, errno.ENOENT):
                raise

    def unlist_links(self, ifnames: Sequence[str]) -> None:
        # The kernel answers a deletion only after its RCU waits: a link is gone from
        # view (name, addresses, routes, sysfs entry; then its RTM_DELLINK is sent)
        # within a few ms, and the answer comes ~30 ms later, once ``netdev_run_todo``'s
        # ``rcu_barrier`` is over. Each request runs in a thread of its own that
        # outlives this call; not a daemon, so a process that exits normally waits for
        # it (one that is killed finishes the syscall first all the same).
        errors: dict[str, BaseException] = {}

        def delete(ifname: str) -> None:
            try:
                with open_raw_netlink() as own:  # a socket is one thread's (see the docstring)
                    own.delete_link(ifname)
            except BaseException as error:  # handed to the caller, not to threading's hook
                errors[ifname] = error

        with _LinkDeletions(ifnames) as deletions:
            threads = [threading.Thread(target=delete, args=(ifname,), name=f"delete-{ifname}")
                       for ifname in deletions.present()]
            for thread in threads:
                thread.start()
            # Until each is announced gone, or its request has been answered.
            deletions.wait(math.inf, lambda: not any(thread.is_alive() for thread in threads))
        for ifname in ifnames:  # the first in the caller's order
            if ifname in errors:
                error = errors[ifname]
                if isinstance(error, OSError) and not isinstance(error, HostError):
                    raise HostError.from_os_error("delete link", ifname, error) from error
                raise error

    def set_master(self, ifname: str, master_ifname: str) -> None:
        from pyroute2.netlink.rtnl import RTM_NEWLINK
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        message = ifinfmsg()
        message["index"] = self._index(ifname)
        message["attrs"] = [("IFLA_MASTER", self._index(master_ifname))]
        self._request(message, RTM_NEWLINK, 0, f"set master {master_ifname} of", ifname)

    def ipv4_networks(self) -> tuple[list[str], list[str]]:
        # A dump: rare (once per new network), so pyroute2's parser handles it. The
        # IPRoute is opened in this thread, hence in the same netns as this socket.
        with open_netlink() as netlink:
            return netlink.ipv4_networks()

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
        from pyroute2.netlink.rtnl import RTM_NEWADDR
        from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

        message = ifaddrmsg()
        message["family"] = socket.AF_INET
        message["prefixlen"] = prefixlen
        message["index"] = self._index(ifname)
        message["attrs"] = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
        try:
            self._request(
                message,
                RTM_NEWADDR,
                NLM_F_CREATE | NLM_F_EXCL,
                f"add address {address}/{prefixlen} to",
                ifname,
            )
        except HostError as error:
            if error.errno != errno.EEXIST:
                raise

    def add_default_route(self, gateway: str) -> None:
        from pyroute2.netlink import NLM_F_CREATE, NLM_F_REPLACE
        from pyroute2.netlink.rtnl import RTM_NEWROUTE
        from pyroute2.netlink.rtnl.rtmsg import rtmsg

        message = rtmsg()
        message["family"] = socket.AF_INET
        message["dst_len"] = 0
        message["table"] = RT_TABLE_MAIN
        message["proto"] = RTPROT_BOOT
        message["scope"] = RT_SCOPE_UNIVERSE
        message["type"] = RTN_UNICAST
        message["attrs"] = [("RTA_GATEWAY", gateway)]
        self._request(
            message, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, "add default route via", gateway
        )


NLMSG_ERROR = 2
RTMGRP_LINK = 0x1  # the multicast group of link notifications (RTNLGRP_LINK's bit)
RTM_DELLINK_TYPE = 17  # (pyroute2's constant costs an import on the CLI's path)
IFF_UP = 0x1
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1


def _link_exists(ifname: str) -> bool:
    try:
        socket.if_nametoindex(ifname)  # one ioctl, under RCU: no rtnl lock
    except OSError:
        return False
    return True


def settle_links(netlink: Netlink, ifnames: Sequence[str]) -> None:
    """Wait (at most ``VETH_GONE_SECONDS``) until the veths of released sandboxes are
    gone; delete those still there (another process is still in their namespace)."""
    for ifname in netlink.wait_links_gone(ifnames, VETH_GONE_SECONDS) if ifnames else ():
        netlink.delete_link(ifname)


def _bridge_ports(bridge_ifname: str) -> list[str]:
    # sysfs of the netns that mounted it (the host's, where the engine's bridges are):
    # one readdir, where a netlink dump lists every link of the host.
    try:
        return sorted(os.listdir(f"/sys/class/net/{bridge_ifname}/brif"))
    except FileNotFoundError:
        return []


def wait_links_gone(ifnames: Sequence[str], timeout: float) -> list[str]:
    """Wait until none of ``ifnames`` exists in this thread's netns, at most ``timeout``
    seconds; those still there.

    Woken by the kernel's link notifications, not by polling: a teardown has a dozen
    removals waiting at once, and a look every millisecond each cost the engine
    thousands of wake-ups (and GIL handoffs) a second, on the way of the stops beside
    them."""
    with _LinkDeletions(ifnames) as deletions:
        deletions.wait(time.monotonic() + timeout)
        return deletions.left()


def deleted_links(data: bytes) -> list[int]:
    """The interface indexes of the links whose deletion ``data`` (netlink messages, as
    one ``recv`` gives them) announces."""
    indexes = []
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16 or offset + length > len(data):
            break  # not a whole message: nothing after it can be read either
        # struct ifinfomsg after the 16-byte header: family, pad, type, index. A bridge
        # announces a port it lets go with an RTM_DELLINK of family AF_BRIDGE: only
        # AF_UNSPEC's is the link's own deletion.
        if kind == RTM_DELLINK_TYPE and length >= 24:
            family, _, _, index = struct.unpack_from("=BBHi", data, offset + 16)
            if family == socket.AF_UNSPEC:
                indexes.append(index)
        offset += (length + 3) & ~3
    return indexes


class _LinkDeletions:
    """The RTM_DELLINK notifications of some links (the RTNLGRP_LINK group).

    A deleted link is first unlisted (``if_nametoindex`` fails), then its sysfs entry
    goes, then its RTM_DELLINK is sent: the notification is the one sign that the link
    is gone from every view, ``ls /sys/class/net`` included. Subscribed before the links
    are looked up, so no deletion falls between the two.
    """

    def __init__(self, ifnames: Sequence[str]) -> None:
        self._events = socket.socket(socket.AF_NETLINK,
                                     socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        try:
            self._events.bind((0, RTMGRP_LINK))
        except BaseException:
            self._events.close()
            raise
        self._pending: dict[int, str] = {}  # ifindex -> name, of those not announced gone
        for ifname in ifnames:
            try:
                self._pending[socket.if_nametoindex(ifname)] = ifname
            except OSError:
                continue

    def __enter__(self) -> _LinkDeletions:
        return self

    def __exit__(self, *_: object) -> None:
        self._events.close()

    def present(self) -> list[str]:
        return list(self._pending.values())

    def left(self) -> list[str]:
        return sorted(self._pending.values())

    def wait(self, deadline: float, done: Callable[[], bool] | None = None) -> None:
        """Until every link is announced gone, the monotonic clock passes ``deadline``,
        or ``done()`` (asked every 10 ms: what it waits for sends no notification)."""
        while self._pending and not (done is not None and done()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._events.settimeout(remaining if done is None else min(remaining, 0.01))
            try:
                data = self._events.recv(65536)
            except TimeoutError:
                continue
            except OSError as error:
                if error.errno != errno.ENOBUFS:
                    raise
                # A burst overflowed the socket: look instead (unlisted is near enough).
                self._pending = {index: ifname for index, ifname in self._pending.items()
                                 if _link_exists(ifname)}
                continue
            for index in deleted_links(data):
                self._pending.pop(index, None)


@contextmanager
def open_raw_netlink() -> Iterator[RawNetlink]:
    netlink = RawNetlink()
    try:
        yield netlink
    finally:
        netlink.close()


_host_handles = threading.local()


def host_netlink() -> RawNetlink:
    """This thread's netlink handle in the host netns, opened once per thread.

    Saves opening a socket (~3 ms) per operation on the engine's hot path. Safe because
    engine threads never change netns (only the fresh threads of ``netns`` do, and they
    do not call this), and each thread has its own handle (see the module docstring).
    """
    handle = getattr(_host_handles, "netlink", None)
    if handle is None:
        handle = RawNetlink()
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
    masters: dict[str, str] = field(default_factory=dict)  # port -> bridge
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)

    def _need(self, ifname: str) -> None:
        if ifname not in self.links:
            raise HostError("netlink lookup", ifname, errno.ENODEV)

    def link_exists(self, ifname: str) -> bool:
        return ifname in self.links

    def wait_links_gone(self, ifnames: Sequence[str], timeout: float) -> list[str]:
        return [ifname for ifname in ifnames if ifname in self.links]

    def bridge_ports(self, bridge_ifname: str) -> list[str]:
        return sorted(port for port, master in self.masters.items() if master == bridge_ifname)

    def link_names(self) -> list[str]:
        return sorted(self.links)

    def add_bridge(self, ifname: str) -> None:
        self.calls.append(("add_bridge", ifname))
        self.links.add(ifname)

    def add_veth(
        self, ifname: str, peer_ifname: str, peer_netns_fd: int, master_ifname: str,
        peer_address: str | None = None,
    ) -> None:
        self.calls.append(("add_veth", ifname, peer_ifname, master_ifname)
                          + ((peer_address,) if peer_address else ()))
        self._need(master_ifname)
        if ifname in self.links:
            raise HostError("netlink add veth", ifname, errno.EEXIST)
        self.links.add(ifname)
        self.links.add(peer_ifname)
        self.peers[ifname] = peer_ifname
        self.masters[ifname] = master_ifname

    def delete_link(self, ifname: str) -> None:
        self.calls.append(("delete_link", ifname))
        self.links.discard(ifname)
        self.links.discard(self.peers.pop(ifname, ""))
        self.masters.pop(ifname, None)
        for port in [port for port, master in self.masters.items() if master == ifname]:
            del self.masters[port]  # a deleted bridge lets its ports go

    def unlist_links(self, ifnames: Sequence[str]) -> None:
        for ifname in ifnames:
            self.delete_link(ifname)

    def set_up(self, ifname: str) -> None:
        self.calls.append(("set_up", ifname))
        self._need(ifname)

    def set_master(self, ifname: str, master_ifname: str) -> None:
        self.calls.append(("set_master", ifname, master_ifname))
        self._need(ifname)
        self._need(master_ifname)
        self.masters[ifname] = master_ifname

    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        self.calls.append(("add_address", ifname, f"{address}/{prefixlen}"))
        self._need(ifname)

    def add_default_route(self, gateway: str) -> None:
        self.calls.append(("add_default_route", gateway))

    def ipv4_networks(self) -> tuple[list[str], list[str]]:
        return list(self.addresses), list(self.routes)
