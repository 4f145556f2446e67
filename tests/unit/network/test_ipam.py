from __future__ import annotations

import json
import threading
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackr.errors import StateError
from stackr.network.ipam import (
    AddressPool,
    IpamError,
    IpamState,
    IpamStore,
    SubnetRequest,
    allocate_address,
    allocate_subnet,
    default_pool,
    host_networks_from,
    parse_pool,
    release_address,
    release_subnet,
    state_from_json,
    state_to_json,
)

POOL = parse_pool("10.213.0.0/16,24")


def test_default_pool_is_10_213_in_24s_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_pool() == AddressPool(IPv4Network("10.213.0.0/16"), 24)
    monkeypatch.setenv("STACKR_ADDRESS_POOL", "172.30.0.0/16,26")
    assert default_pool() == AddressPool(IPv4Network("172.30.0.0/16"), 26)


@pytest.mark.parametrize("text", ["nonsense", "10.0.0.1/8", "10.0.0.0/16,8", "10.0.0.0/16,31"])
def test_bad_pools_are_refused(text: str) -> None:
    with pytest.raises(IpamError, match="pool"):
        parse_pool(text)


def test_first_free_subnet_skips_host_routes_and_other_networks() -> None:
    host = [IPv4Network("10.213.0.0/23"), IPv4Network("0.0.0.0/0")]  # default route ignored
    state, first = allocate_subnet(IpamState(), "a", SubnetRequest(), POOL, host)
    assert str(first.subnet) == "10.213.2.0/24"
    assert str(first.gateway) == "10.213.2.1"
    state, second = allocate_subnet(state, "b", SubnetRequest(), POOL, host)
    assert str(second.subnet) == "10.213.3.0/24"


def test_allocate_subnet_is_idempotent() -> None:
    state, lease = allocate_subnet(IpamState(), "a", SubnetRequest(), POOL, [])
    again, lease_again = allocate_subnet(state, "a", SubnetRequest(), POOL, [])
    assert again is state and lease_again == lease


def test_explicit_subnet_overlapping_a_network_or_host_route_is_refused() -> None:
    state, _ = allocate_subnet(IpamState(), "a", SubnetRequest("10.50.0.0/24"), POOL, [])
    with pytest.raises(IpamError, match=r"overlaps 10\.50\.0\.0/24 of network a"):
        allocate_subnet(state, "b", SubnetRequest("10.50.0.0/16"), POOL, [])
    with pytest.raises(IpamError, match=r"host's route/address 192\.0\.2\.0/24"):
        allocate_subnet(
            state, "c", SubnetRequest("192.0.2.0/25"), POOL, [IPv4Network("192.0.2.0/24")]
        )


def test_gateway_and_ip_range_are_checked() -> None:
    with pytest.raises(IpamError, match="not a host of subnet"):
        allocate_subnet(
            IpamState(), "a", SubnetRequest("10.9.0.0/24", gateway="10.9.1.1"), POOL, []
        )
    with pytest.raises(IpamError, match="not inside subnet"):
        allocate_subnet(
            IpamState(), "a", SubnetRequest("10.9.0.0/24", ip_range="10.9.1.0/25"), POOL, []
        )
    with pytest.raises(IpamError, match="need a subnet"):
        allocate_subnet(IpamState(), "a", SubnetRequest(gateway="10.9.0.1"), POOL, [])
    with pytest.raises(IpamError, match="not an IPv4 subnet"):
        allocate_subnet(IpamState(), "a", SubnetRequest("10.9.0.1/24"), POOL, [])


def test_exhausted_pool_says_what_to_do() -> None:
    tiny = parse_pool("10.77.0.0/29,30")
    state, _ = allocate_subnet(IpamState(), "a", SubnetRequest(), tiny, [])
    state, _ = allocate_subnet(state, "b", SubnetRequest(), tiny, [])
    with pytest.raises(IpamError, match="no free /30 left"):
        allocate_subnet(state, "c", SubnetRequest(), tiny, [])


SMALL = SubnetRequest("10.9.0.0/29")


def _network(request: SubnetRequest = SMALL) -> IpamState:
    return allocate_subnet(IpamState(), "n", request, POOL, [])[0]


def test_addresses_skip_network_gateway_broadcast_and_run_out() -> None:
    state = _network()
    got = []
    for owner in "abcde":
        state, address = allocate_address(state, "n", owner)
        got.append(str(address))
    assert got == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(IpamError, match="no free address"):
        allocate_address(state, "n", "f")


def test_same_owner_gets_same_address_and_release_is_idempotent() -> None:
    state, first = allocate_address(_network(), "n", "web")
    state, again = allocate_address(state, "n", "web")
    assert first == again
    state = release_address(state, "n", "web")
    assert release_address(state, "n", "web") == state
    assert release_address(state, "nonexistent", "web") == state


def test_recreated_owner_gets_its_sticky_address_back() -> None:
    state, web = allocate_address(_network(), "n", "service:web:1")
    state, _ = allocate_address(state, "n", "service:db:1")
    state = release_address(state, "n", "service:web:1")
    # another newcomer does not take web's remembered address while others are free
    state, newcomer = allocate_address(state, "n", "service:cache:1")
    assert newcomer != web
    state, web_again = allocate_address(state, "n", "service:web:1")
    assert web_again == web


def test_static_address_rules() -> None:
    state = _network(SubnetRequest("10.9.0.0/24", ip_range="10.9.0.128/25"))
    state, dynamic = allocate_address(state, "n", "a")
    assert str(dynamic) == "10.9.0.128"
    state, fixed = allocate_address(state, "n", "b", "10.9.0.5")  # outside ip_range is fine
    assert str(fixed) == "10.9.0.5"
    with pytest.raises(IpamError, match="already used by b"):
        allocate_address(state, "n", "c", "10.9.0.5")
    for bad in ("10.9.0.1", "10.9.0.0", "10.9.0.255", "10.10.0.5"):
        with pytest.raises(IpamError, match="not a usable address"):
            allocate_address(state, "n", "c", bad)
    with pytest.raises(IpamError, match="not an IPv4 address"):
        allocate_address(state, "n", "c", "nope")


def test_address_in_unknown_network_is_an_error() -> None:
    with pytest.raises(IpamError, match="no subnet"):
        allocate_address(IpamState(), "missing", "a")


def test_release_subnet_forgets_everything() -> None:
    state, _ = allocate_address(_network(), "n", "a")
    assert release_subnet(state, "n") == IpamState()
    assert release_subnet(IpamState(), "n") == IpamState()


def test_json_round_trip_and_corrupt_state() -> None:
    state, _ = allocate_address(
        _network(SubnetRequest("10.9.0.0/24", "10.9.0.254", "10.9.0.0/25")), "n", "a"
    )
    state = release_address(state, "n", "a")
    assert state_from_json(json.loads(json.dumps(state_to_json(state))), "x") == state
    with pytest.raises(StateError, match="unknown IPAM state version"):
        state_from_json({"version": 99}, "x")
    with pytest.raises(StateError, match="corrupt"):
        state_from_json({"version": 1, "networks": {"n": {"subnet": "bad"}}}, "x")


def test_store_serialises_concurrent_allocations(tmp_path: Path) -> None:
    store = IpamStore(tmp_path / "network")
    store.update(lambda s: allocate_subnet(s, "n", SubnetRequest("10.9.0.0/24"), POOL, []))
    results: list[IPv4Address] = []

    def take(owner: str) -> None:
        results.append(store.update(lambda s: allocate_address(s, "n", owner)))

    threads = [threading.Thread(target=take, args=(f"o{i}",)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 40
    assert len(store.load().networks["n"].addresses) == 40
    (tmp_path / "network" / "ipam.json").write_text("{not json")
    with pytest.raises(StateError, match="corrupt"):
        store.load()


def test_store_sees_what_another_process_wrote(tmp_path: Path) -> None:
    store = IpamStore(tmp_path / "network")
    store.update(lambda s: allocate_subnet(s, "n", SubnetRequest("10.9.0.0/24"), POOL, []))
    mine = store.update(lambda s: allocate_address(s, "n", "mine"))
    assert store.load().networks["n"].addresses == {"mine": mine}  # from what it wrote
    # Another writer (another engine, an older stackr) changes the file under the lock.
    other = IpamStore(tmp_path / "network")
    data = state_to_json(store.load())
    data["networks"]["n"]["addresses"]["theirs"] = "10.9.0.77"
    (tmp_path / "network" / "ipam.json").write_text(json.dumps(data))
    assert set(other.load().networks["n"].addresses) == {"mine", "theirs"}
    taken = store.update(lambda s: allocate_address(s, "n", "third"))
    assert taken not in (mine, IPv4Address("10.9.0.77"))


def test_host_networks_from_netlink_text() -> None:
    found = host_networks_from(["192.0.2.2/24", "fd00::2/64"], ["10.0.0.0/8", "garbage"])
    assert found == [IPv4Network("192.0.2.0/24"), IPv4Network("10.0.0.0/8")]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=255), max_size=20))
def test_pool_subnets_never_overlap_host_routes_or_each_other(taken_thirds: list[int]) -> None:
    host = [IPv4Network(f"10.213.{third}.0/24") for third in taken_thirds]
    state = IpamState()
    free = 256 - len(set(taken_thirds))
    for i in range(min(free, 5)):
        state, lease = allocate_subnet(state, f"n{i}", SubnetRequest(), POOL, host)
        assert not any(lease.subnet.overlaps(h) for h in host)
    subnets = [lease.subnet for lease in state.networks.values()]
    assert len(set(subnets)) == len(subnets)
