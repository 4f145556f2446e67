"""A container's network sandbox (its netns file) and its attachments to networks.

The engine prepares everything before the container's process exists; the runtime then
joins the namespace by path (``setns`` on ``sandbox_path(container_id)``) before exec,
so the application finds its interfaces, addresses and routes already in place:

1. ``create_sandbox(container_id)``: a new netns bound to
   ``run_root()/netns/<container_id>``, with ``lo`` up. ``network_mode: none`` stops here.
2. ``attach(container_id, sandbox, network, ...)`` once per network: an address leased
   from IPAM, the attachment recorded, then a veth pair whose container end is created
   *directly inside* the sandbox already named ``ethN`` (one netlink request instead of
   create + move + rename), the host end (``stkv…``) enslaved to the bridge and up; then,
   inside the netns (see ``netns.run_in_netns``): address, ``ethN`` up and the default
   route via the gateway (only through the first non-internal network).
3. ``detach`` / ``remove_sandbox`` undo it; absent is success. Deleting the host end of a
   veth deletes both ends; unmounting the netns file destroys the namespace once no
   process is left in it.

The attachment record also holds the DNS names (service, container name, hostname,
aliases), so the resolver can be rebuilt from records after an engine restart.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stackr import naming, paths
from stackr.network import netns, records
from stackr.network.bridge import NetworkState, ipam_store
from stackr.network.ipam import allocate_address, release_address
from stackr.network.netlink import Netlink, NetnsNetlink, host_netlink, settle_links


@dataclass(frozen=True)
class Attachment:
    container_id: str
    network_id: str
    host_ifname: str  # "stkv…" on the host, a port of the bridge
    container_ifname: str  # "eth0", "eth1", … inside the sandbox
    ipv4_address: str
    prefixlen: int
    gateway: str
    default_route: bool
    owner: str  # the IPAM owner key (stable across recreates, e.g. "service:web:1")
    names: tuple[str, ...]  # what the resolver answers with this address
    mac_address: str | None = None  # of the container's end; None: the kernel's choice

    def to_json(self) -> dict[str, object]:
        return {
            "container_id": self.container_id,
            "network_id": self.network_id,
            "host_ifname": self.host_ifname,
            "container_ifname": self.container_ifname,
            "ipv4_address": self.ipv4_address,
            "prefixlen": self.prefixlen,
            "gateway": self.gateway,
            "default_route": self.default_route,
            "owner": self.owner,
            "names": list(self.names),
            "mac_address": self.mac_address,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Attachment:
        names = data.get("names") or []
        assert isinstance(names, list)
        return cls(
            container_id=str(data["container_id"]),
            network_id=str(data["network_id"]),
            host_ifname=str(data["host_ifname"]),
            container_ifname=str(data["container_ifname"]),
            ipv4_address=str(data["ipv4_address"]),
            prefixlen=int(str(data["prefixlen"])),
            gateway=str(data["gateway"]),
            default_route=bool(data["default_route"]),
            owner=str(data["owner"]),
            names=tuple(str(n) for n in names),
            mac_address=str(data["mac_address"]) if data.get("mac_address") else None,
        )


def sandbox_path(container_id: str) -> Path:
    return netns.netns_dir() / records.check_id("container", container_id)


def host_ifname(container_id: str, network_id: str) -> str:
    return naming.link_name("v", str(paths.state_root()), container_id, network_id)


def _attachments_dir(container_id: str) -> Path:
    return records.network_root() / "attachments" / container_id


def _attachment_path(container_id: str, network_id: str) -> Path:
    return _attachments_dir(container_id) / f"{network_id}.json"


def list_attachments(container_id: str | None = None) -> list[Attachment]:
    """One container's attachments, or every recorded attachment."""
    root = records.network_root() / "attachments"
    directories = [root / container_id] if container_id else sorted(root.glob("*"))
    found = []
    for directory in directories:
        for path in records.list_json(directory):
            data = records.read_json(path)
            if data is not None:
                found.append(Attachment.from_json(data))
    return found


def create_sandbox(container_id: str) -> Path:
    """The container's netns file, with ``lo`` up; idempotent."""
    netns.ensure_netns_dir()
    return netns.create_netns(sandbox_path(container_id))


def _free_ifname(container_id: str, network_id: str) -> str:
    used = {
        a.container_ifname for a in list_attachments(container_id) if a.network_id != network_id
    }
    index = 0
    while f"eth{index}" in used:
        index += 1
    return f"eth{index}"


def attach(
    container_id: str,
    sandbox: Path,
    network: NetworkState,
    *,
    ipv4_address: str | None = None,
    names: Sequence[str] = (),
    owner: str | None = None,
    default_route: bool | None = None,
    netlink: Netlink | None = None,
    mac_address: str | None = None,
) -> Attachment:
    """Wire ``container_id``'s sandbox into ``network``; idempotent per (container, network).

    ``owner`` is the IPAM key the address is leased to (default: the container id); give
    one that survives recreation to keep the address. ``default_route`` defaults to "not
    internal and no other attachment of this container has the default route".
    """
    records.check_id("container", container_id)
    existing = [a for a in list_attachments(container_id) if a.network_id != network.network_id]
    if default_route is None:
        default_route = not network.internal and not any(a.default_route for a in existing)
    lease_owner = owner or container_id
    address = ipam_store().update(
        lambda state: allocate_address(state, network.network_id, lease_owner, ipv4_address)
    )
    attachment = Attachment(
        container_id=container_id,
        network_id=network.network_id,
        host_ifname=host_ifname(container_id, network.network_id),
        container_ifname=_free_ifname(container_id, network.network_id),
        ipv4_address=str(address),
        prefixlen=network.prefixlen,
        gateway=network.gateway,
        default_route=default_route,
        owner=lease_owner,
        names=tuple(dict.fromkeys(n for n in names if n)),
        mac_address=mac_address,
    )
    previous = records.read_json(_attachment_path(container_id, network.network_id))
    if previous is not None:
        # Idempotent re-attach keeps the recorded interface name (and everything else).
        attachment = Attachment.from_json(previous)
    else:
        records.write_json_atomic(
            _attachment_path(container_id, network.network_id), attachment.to_json()
        )
        # A veth of this name without a record goes with a sandbox released moments ago
        # (a start failed and is tried again): it must be gone before the new pair.
        host = netlink or host_netlink()
        if host.link_exists(attachment.host_ifname):
            settle_links(host, [attachment.host_ifname])
    try:
        if netlink is None:
            fd = netns.open_netns(sandbox)  # a clear error naming the file if it is gone
            try:
                _wire_host_side(host_netlink(), attachment, network, fd)
            finally:
                os.close(fd)
            netns.run_in_netns(sandbox, lambda inside: _configure_inside(inside, attachment))
        else:
            _wire_host_side(netlink, attachment, network, -1)
            _configure_inside(netlink, attachment)
    except BaseException as error:
        if previous is None:
            # a failed create removes what it made (veth, lease, record), then reports
            try:
                detach(container_id, network.network_id, netlink)
            except Exception as cleanup_error:
                error.add_note(f"cleaning up the attachment failed too: {cleanup_error}")
        raise
    return attachment


def _wire_host_side(
    netlink: Netlink, attachment: Attachment, network: NetworkState, sandbox_fd: int
) -> None:
    if not netlink.link_exists(attachment.host_ifname):
        netlink.add_veth(
            attachment.host_ifname, attachment.container_ifname, sandbox_fd, network.bridge_ifname,
            attachment.mac_address,
        )
        return
    # repair an existing pair (re-attach after a crash or an admin's change)
    netlink.set_master(attachment.host_ifname, network.bridge_ifname)
    netlink.set_up(attachment.host_ifname)


def _configure_inside(netlink: NetnsNetlink, attachment: Attachment) -> None:
    netlink.add_address(attachment.container_ifname, attachment.ipv4_address, attachment.prefixlen)
    netlink.set_up(attachment.container_ifname)
    if attachment.default_route:
        netlink.add_default_route(attachment.gateway)


def detach(container_id: str, network_id: str, netlink: Netlink | None = None, *,
           keep_link: bool = False) -> None:
    """Remove one attachment: veth (unless ``keep_link``: it goes with its namespace),
    address lease, record. Absent is success."""
    records.check_id("container", container_id)
    records.check_id("network", network_id)
    path = _attachment_path(container_id, network_id)
    data = records.read_json(path)
    owner = Attachment.from_json(data).owner if data is not None else container_id
    if not keep_link:
        (netlink or host_netlink()).delete_link(host_ifname(container_id, network_id))
    ipam_store().update(lambda state: (release_address(state, network_id, owner), None))
    records.remove_file(path)
    with contextlib.suppress(OSError):
        _attachments_dir(container_id).rmdir()


def remove_sandbox(container_id: str, netlink: Netlink | None = None) -> None:
    """``release_sandbox``, then wait until its veths are gone; absent is success."""
    settle_links(netlink or host_netlink(), release_sandbox(container_id, netlink))


def release_sandbox(container_id: str, netlink: Netlink | None = None) -> list[str]:
    """Unmount and delete the netns file, then drop every attachment (address lease,
    record); the host ends of veths that are still there, going with the namespace.

    The namespace goes first: with no process left in it, the kernel destroys it, and
    with it its veths, host ends included, in a batch with every namespace dying
    meanwhile (``cleanup_net``). Deleting a veth by RTM_DELLINK instead holds the rtnl
    lock ~20 ms, one veth at a time: the teardown of a 20-service stack spent 0.4 s
    queued on it. The destruction takes the kernel 20-40 ms (RCU grace periods): the
    caller decides when to wait for it (``settle_links``); the engine does not: a
    network's removal deletes its bridge's last ports with it (``remove_network``). The
    addresses are released at once: the dying namespace has no process left to use them.
    """
    attachments = list_attachments(container_id)
    dying: list[str] = []
    if netns.remove_netns(sandbox_path(container_id)) and attachments:
        host = netlink or host_netlink()
        dying = [a.host_ifname for a in attachments if host.link_exists(a.host_ifname)]
    for attachment in attachments:
        detach(container_id, attachment.network_id, netlink,
               keep_link=attachment.host_ifname in dying)
    return dying


