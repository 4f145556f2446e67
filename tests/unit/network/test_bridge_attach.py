"""Netlink call sequences of ensure/remove network and attach/detach, with the recording fake."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from stackr.errors import HostError, UsageError
from stackr.network import attach, bridge, records
from stackr.network.bridge import NetworkSpec
from stackr.network.ipam import SubnetRequest
from stackr.network.netlink import RecordingNetlink


@pytest.fixture
def netlink() -> RecordingNetlink:
    return RecordingNetlink(addresses=["192.0.2.2/24"], routes=["10.213.0.0/24"])


def test_ensure_network_records_then_makes_bridge_address_up(netlink: RecordingNetlink) -> None:
    state = bridge.ensure_network(NetworkSpec("p_default", "default"), netlink, host_rules=False)
    assert state.subnet == "10.213.1.0/24"  # 10.213.0.0/24 is a host route
    assert state.bridge_ifname.startswith("stkb") and len(state.bridge_ifname) == 15
    assert netlink.calls == [
        ("add_bridge", state.bridge_ifname),
        ("add_address", state.bridge_ifname, "10.213.1.1/24"),
        ("set_up", state.bridge_ifname),
    ]
    assert bridge.load_network("p_default") == state
    assert bridge.list_networks() == [state]
    # idempotent: the same state, the same (idempotent) requests again
    assert (
        bridge.ensure_network(NetworkSpec("p_default", "default"), netlink, host_rules=False)
        == state
    )


def test_bridge_names_differ_per_state_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = bridge.bridge_ifname("p_default")
    monkeypatch.setenv("STACKR_ROOT", str(tmp_path / "other"))
    assert bridge.bridge_ifname("p_default") != first


def test_bad_network_id_is_refused(netlink: RecordingNetlink) -> None:
    with pytest.raises(UsageError, match="network id"):
        bridge.ensure_network(NetworkSpec("../escape"), netlink, host_rules=False)


def test_attach_sequence_and_detach(netlink: RecordingNetlink, tmp_path: Path) -> None:
    network = bridge.ensure_network(
        NetworkSpec("p_net", ipam=SubnetRequest("10.40.0.0/24")), netlink, host_rules=False
    )
    netlink.calls.clear()
    sandbox = tmp_path / "not-a-real-netns"
    web = attach.attach(
        "c1", sandbox, network, names=["web", "web", "stack-web-1"], netlink=netlink
    )
    assert (web.ipv4_address, web.container_ifname, web.default_route) == (
        "10.40.0.2",
        "eth0",
        True,
    )
    assert web.names == ("web", "stack-web-1")
    assert netlink.calls == [
        ("add_veth", web.host_ifname, "eth0", network.bridge_ifname),
        ("add_address", "eth0", "10.40.0.2/24"),
        ("set_up", "eth0"),
        ("add_default_route", "10.40.0.1"),
    ]
    assert attach.list_attachments("c1") == [web]
    with pytest.raises(bridge.NetworkInUseError, match="c1"):
        bridge.remove_network("p_net", netlink, host_rules=False)
    netlink.calls.clear()
    attach.detach("c1", "p_net", netlink)
    attach.detach("c1", "p_net", netlink)  # absent is success
    assert netlink.calls == [("delete_link", web.host_ifname)] * 2
    assert attach.list_attachments() == []
    bridge.remove_network("p_net", netlink, host_rules=False)
    assert bridge.list_networks() == []
    assert bridge.ipam_store().load().networks == {}


def test_second_network_is_eth1_without_default_route(
    netlink: RecordingNetlink, tmp_path: Path
) -> None:
    front = bridge.ensure_network(NetworkSpec("p_front"), netlink, host_rules=False)
    back = bridge.ensure_network(NetworkSpec("p_back"), netlink, host_rules=False)
    internal = bridge.ensure_network(NetworkSpec("p_int", internal=True), netlink, host_rules=False)
    sandbox = tmp_path / "ns"
    first = attach.attach("c1", sandbox, internal, netlink=netlink)
    second = attach.attach("c1", sandbox, front, netlink=netlink)
    third = attach.attach("c1", sandbox, back, netlink=netlink)
    assert [a.container_ifname for a in (first, second, third)] == ["eth0", "eth1", "eth2"]
    assert [a.default_route for a in (first, second, third)] == [False, True, False]
    attach.remove_sandbox("c1", netlink)
    assert attach.list_attachments("c1") == []


def test_address_is_kept_across_recreation_with_a_stable_owner(
    netlink: RecordingNetlink, tmp_path: Path
) -> None:
    network = bridge.ensure_network(NetworkSpec("p_keep"), netlink, host_rules=False)
    old = attach.attach("old", tmp_path / "a", network, owner="service:db:1", netlink=netlink)
    attach.attach("other", tmp_path / "b", network, netlink=netlink)
    attach.remove_sandbox("old", netlink)
    attach.attach("third", tmp_path / "c", network, netlink=netlink)
    new = attach.attach("new", tmp_path / "d", network, owner="service:db:1", netlink=netlink)
    assert new.ipv4_address == old.ipv4_address


def test_attach_is_idempotent(netlink: RecordingNetlink, tmp_path: Path) -> None:
    network = bridge.ensure_network(NetworkSpec("p_idem"), netlink, host_rules=False)
    first = attach.attach("c1", tmp_path / "ns", network, netlink=netlink)
    netlink.calls.clear()
    again = attach.attach("c1", tmp_path / "ns", network, netlink=netlink)
    assert again == first
    assert not [c for c in netlink.calls if c[0] == "add_veth"]  # the pair exists already


def test_records_are_atomic_json(tmp_path: Path) -> None:
    path = tmp_path / "x" / "r.json"
    records.write_json_atomic(path, {"a": 1})
    assert records.read_json(path) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
    assert records.read_json(tmp_path / "missing.json") is None


class FailingNetlink(RecordingNetlink):
    def add_address(self, ifname: str, address: str, prefixlen: int) -> None:
        super().add_address(ifname, address, prefixlen)
        raise HostError("netlink add address", ifname, errno.EPERM)


def test_a_failed_create_removes_what_it_made(tmp_path: Path) -> None:
    failing = FailingNetlink()
    with pytest.raises(HostError, match="EPERM"):
        bridge.ensure_network(NetworkSpec("p_fail"), failing, host_rules=False)
    assert failing.calls[-1][0] == "delete_link"
    assert bridge.list_networks() == []
    assert bridge.ipam_store().load().networks == {}

    working = RecordingNetlink()
    network = bridge.ensure_network(NetworkSpec("p_ok"), working, host_rules=False)
    failing.links |= working.links
    with pytest.raises(HostError, match="EPERM"):
        attach.attach("c1", tmp_path / "ns", network, netlink=failing)
    assert failing.calls[-1] == ("delete_link", attach.host_ifname("c1", "p_ok"))
    assert attach.list_attachments() == []
    assert bridge.ipam_store().load().networks["p_ok"].addresses == {}
