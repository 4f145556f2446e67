"""Real bridges, veths, netns, nftables and DNS; busybox in netns files plays the containers."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stackr import naming
from stackr.network import attach, bridge, dns, firewall, ports
from stackr.network.bridge import NetworkSpec
from stackr.network.netlink import VETH_GONE_SECONDS, host_netlink, open_netlink, settle_links
from tests.integration.network.conftest import Processes, in_netns, wait_listening

BUSYBOX = "/bin/busybox"


def _container(container_id: str, network: bridge.NetworkState, *names: str) -> attach.Attachment:
    sandbox = attach.create_sandbox(container_id)
    return attach.attach(container_id, sandbox, network, names=names or (container_id,))


def _serve_http(processes: Processes, sandbox: Path, directory: Path, port: int = 80) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "index.html").write_text("hello from the container\n")
    process = processes.start(
        [
            "nsenter",
            f"--net={sandbox}",
            BUSYBOX,
            "httpd",
            "-f",
            "-p",
            str(port),
            "-h",
            str(directory),
        ]
    )
    wait_listening(process.pid, port)


def test_two_containers_reach_each_other_by_address_and_by_name(
    resolver: dns.Resolver, processes: Processes, tmp_path: Path
) -> None:
    network = bridge.ensure_network(NetworkSpec("it_app", "app"))
    resolver.serve_network(network.network_id, network.gateway)
    web = _container("web1", network, "web", "stack-web-1")
    db = _container("db1", network, "db", "stack-db-1")
    for a in (web, db):
        resolver.register(a.container_id, a.network_id, a.ipv4_address, a.names)

    ping = in_netns(attach.sandbox_path("web1"), BUSYBOX, "ping", "-c1", "-W2", db.ipv4_address)
    assert ping.returncode == 0, ping.stdout + ping.stderr

    looked_up = in_netns(attach.sandbox_path("web1"), BUSYBOX, "nslookup", "db", network.gateway)
    assert db.ipv4_address in looked_up.stdout, looked_up.stdout + looked_up.stderr

    # TCP by name, with the container's resolv.conf pointing at the resolver: a private
    # mount namespace (unshare --mount) carries the rendered file over /etc/resolv.conf.
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(dns_resolv_conf(network))
    _serve_http(processes, attach.sandbox_path("db1"), tmp_path / "www")
    fetched = in_netns(
        attach.sandbox_path("web1"),
        "unshare",
        "--mount",
        "sh",
        "-c",
        f"mount --bind {resolv_conf} /etc/resolv.conf && exec {sys.executable} -c '{FETCH}'",
    )
    assert fetched.stdout == "hello from the container\n", fetched.stderr


# busybox-static's wget crashes here (SIGSEGV in its static glibc lookups, even for an
# address): Python's urllib goes through the host's glibc resolver, i.e. the mounted
# resolv.conf.
FETCH = (
    'import urllib.request as u; print(u.urlopen("http://db/", timeout=3).read().decode(), end="")'
)


def dns_resolv_conf(network: bridge.NetworkState) -> str:
    from stackr.network.etcfiles import render_resolv_conf

    return render_resolv_conf([network.gateway])


def test_udp_between_containers_by_name(resolver: dns.Resolver, processes: Processes) -> None:
    network = bridge.ensure_network(NetworkSpec("it_udp"))
    resolver.serve_network(network.network_id, network.gateway)
    client = _container("client1", network, "client")
    server = _container("server1", network, "echo")
    for a in (client, server):
        resolver.register(a.container_id, a.network_id, a.ipv4_address, a.names)
    echo = processes.start(
        [
            "nsenter",
            f"--net={attach.sandbox_path('server1')}",
            sys.executable,
            "-c",
            UDP_ECHO,
            "7000",
        ]
    )
    wait_listening(echo.pid, 7000, "udp")
    address = in_netns(attach.sandbox_path("client1"), BUSYBOX, "nslookup", "echo", network.gateway)
    assert server.ipv4_address in address.stdout
    reply = in_netns(
        attach.sandbox_path("client1"), sys.executable, "-c", UDP_ASK, server.ipv4_address, "7000"
    )
    assert reply.stdout.strip() == "echo:ping", reply.stderr


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"echo:" + data, peer)
"""

UDP_ASK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
print(s.recvfrom(2048)[0].decode())
"""


def test_recreated_peer_is_found_again_by_name(resolver: dns.Resolver) -> None:
    network = bridge.ensure_network(NetworkSpec("it_recreate"))
    resolver.serve_network(network.network_id, network.gateway)
    client = _container("client2", network, "client")
    resolver.register(client.container_id, network.network_id, client.ipv4_address, client.names)
    first = _container("dbold", network, "db")
    resolver.register("dbold", network.network_id, first.ipv4_address, first.names)
    attach.remove_sandbox("dbold")
    resolver.unregister("dbold", network.network_id)
    # Something else takes the old address, so the recreated db gets a new one.
    _container("other", network, "other")
    second = _container("dbnew", network, "db")
    resolver.register("dbnew", network.network_id, second.ipv4_address, second.names)
    assert second.ipv4_address != first.ipv4_address
    looked_up = in_netns(attach.sandbox_path("client2"), BUSYBOX, "nslookup", "db", network.gateway)
    assert second.ipv4_address in looked_up.stdout
    assert first.ipv4_address not in looked_up.stdout.split("Name:")[-1]


def test_all_replicas_behind_a_service_name(resolver: dns.Resolver) -> None:
    network = bridge.ensure_network(NetworkSpec("it_replicas"))
    resolver.serve_network(network.network_id, network.gateway)
    client = _container("client3", network, "client")
    resolver.register(client.container_id, network.network_id, client.ipv4_address, client.names)
    replicas = [_container(f"worker{i}", network, "worker", f"stack-worker-{i}") for i in (1, 2, 3)]
    for replica in replicas:
        resolver.register(
            replica.container_id, network.network_id, replica.ipv4_address, replica.names
        )
    looked_up = in_netns(
        attach.sandbox_path("client3"), BUSYBOX, "nslookup", "worker", network.gateway
    )
    for replica in replicas:
        assert replica.ipv4_address in looked_up.stdout


def test_a_container_on_another_network_cannot_be_reached_nor_resolved(
    resolver: dns.Resolver,
) -> None:
    front = bridge.ensure_network(NetworkSpec("it_front"))
    back = bridge.ensure_network(NetworkSpec("it_back"))
    assert not ipaddress.ip_network(front.subnet).overlaps(ipaddress.ip_network(back.subnet))
    for network in (front, back):
        resolver.serve_network(network.network_id, network.gateway)
    web = _container("web4", front, "web")
    db = _container("db4", back, "db")
    for a in (web, db):
        resolver.register(a.container_id, a.network_id, a.ipv4_address, a.names)
    own_gateway = in_netns(
        attach.sandbox_path("web4"), BUSYBOX, "ping", "-c1", "-W1", front.gateway
    )
    assert own_gateway.returncode == 0
    across = in_netns(attach.sandbox_path("web4"), BUSYBOX, "ping", "-c1", "-W1", db.ipv4_address)
    assert across.returncode != 0, "a container reached a container of another network"
    looked_up = in_netns(attach.sandbox_path("web4"), BUSYBOX, "nslookup", "db", front.gateway)
    assert db.ipv4_address not in looked_up.stdout


def test_a_container_on_two_networks_gets_eth0_and_eth1_and_one_default_route() -> None:
    front = bridge.ensure_network(NetworkSpec("it_two_a"))
    back = bridge.ensure_network(NetworkSpec("it_two_b"))
    sandbox = attach.create_sandbox("both")
    first = attach.attach("both", sandbox, front)
    second = attach.attach("both", sandbox, back)
    assert (first.container_ifname, second.container_ifname) == ("eth0", "eth1")
    routes = in_netns(sandbox, BUSYBOX, "ip", "route").stdout
    assert f"default via {front.gateway} dev eth0" in routes
    assert routes.count("default") == 1


def test_published_port_serves_http_on_loopback_and_host_address(
    processes: Processes, tmp_path: Path
) -> None:
    network = bridge.ensure_network(NetworkSpec("it_ports"))
    web = _container("web5", network)
    _serve_http(processes, attach.sandbox_path("web5"), tmp_path / "www")
    host_port = _free_port()
    published = ports.publish("web5", [ports.PortSpec(80, host_port=host_port)], web.ipv4_address)
    assert [p.render() for p in published] == [f"0.0.0.0:{host_port}->80/tcp"]
    for host in ["127.0.0.1", _host_address()]:
        with urllib.request.urlopen(f"http://{host}:{host_port}/", timeout=5) as response:
            assert response.read() == b"hello from the container\n"
    ports.unpublish("web5")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{host_port}/", timeout=2)


def test_random_host_port_on_127_0_0_1(processes: Processes, tmp_path: Path) -> None:
    network = bridge.ensure_network(NetworkSpec("it_random"))
    web = _container("web6", network)
    _serve_http(processes, attach.sandbox_path("web6"), tmp_path / "www")
    [published] = ports.publish("web6", [ports.PortSpec(80, host_ip="127.0.0.1")], web.ipv4_address)
    assert published.host_ip == "127.0.0.1" and published.host_port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{published.host_port}/", timeout=5) as response:
        assert response.read() == b"hello from the container\n"
    # Bound to 127.0.0.1 only: the host's other addresses do not forward it.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{_host_address()}:{published.host_port}/", timeout=2)
    assert ports.list_published("web6") == [published]


def test_udp_published_port(processes: Processes) -> None:
    network = bridge.ensure_network(NetworkSpec("it_udp_port"))
    server = _container("udp7", network)
    echo = processes.start(
        ["nsenter", f"--net={attach.sandbox_path('udp7')}", sys.executable, "-c", UDP_ECHO, "5300"]
    )
    wait_listening(echo.pid, 5300, "udp")
    host_port = _free_port(socket.SOCK_DGRAM)
    ports.publish("udp7", [ports.PortSpec(5300, "udp", host_port=host_port)], server.ipv4_address)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        client.sendto(b"hi", ("127.0.0.1", host_port))
        assert client.recvfrom(100)[0] == b"echo:hi"


def test_taken_port_is_refused_before_anything_is_made_and_names_the_holder(
    processes: Processes, tmp_path: Path
) -> None:
    host_port = _free_port()
    holder = processes.start(
        [BUSYBOX, "httpd", "-f", "-p", f"127.0.0.1:{host_port}", "-h", str(tmp_path)]
    )
    wait_listening(holder.pid, host_port)
    with pytest.raises(ports.PortInUseError) as caught:
        ports.check_ports_available([ports.PortSpec(80, host_port=host_port)])
    assert f"busybox (pid {holder.pid})" in str(caught.value)
    assert f":{host_port}/tcp" in str(caught.value)
    # publish refuses the same way and leaves no record and no rule
    with pytest.raises(ports.PortInUseError):
        ports.publish("c8", [ports.PortSpec(80, host_port=host_port)], "10.213.9.9")
    assert ports.list_published() == []
    assert not firewall.table_exists()


def test_internal_network_has_no_way_out(resolver: dns.Resolver) -> None:
    internal = bridge.ensure_network(NetworkSpec("it_internal", internal=True))
    outside = bridge.ensure_network(NetworkSpec("it_outside"))
    resolver.serve_network(internal.network_id, internal.gateway, internal=True)
    inner = _container("inner", internal, "inner")
    other = _container("outer", outside, "outer")
    resolver.register("inner", internal.network_id, inner.ipv4_address, inner.names)
    routes = in_netns(attach.sandbox_path("inner"), BUSYBOX, "ip", "route").stdout
    assert "default" not in routes
    # even with a route added by hand, the firewall drops what leaves the bridge
    in_netns(
        attach.sandbox_path("inner"),
        BUSYBOX,
        "ip",
        "route",
        "add",
        "default",
        "via",
        internal.gateway,
    )
    leaving = in_netns(
        attach.sandbox_path("inner"), BUSYBOX, "ping", "-c1", "-W1", other.ipv4_address
    )
    assert leaving.returncode != 0
    # names of its own network resolve; nothing is forwarded outside
    looked_up = in_netns(
        attach.sandbox_path("inner"), BUSYBOX, "nslookup", "inner", internal.gateway
    )
    assert inner.ipv4_address in looked_up.stdout
    ruleset = subprocess.run(
        ["nft", "list", "table", "ip", firewall.table_name()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        f'ip saddr {internal.subnet} oifname != "{internal.bridge_ifname}" masquerade'
        not in ruleset
    )
    assert f'ip saddr {outside.subnet} oifname != "{outside.bridge_ifname}" masquerade' in ruleset


def test_ipam_skips_subnets_that_overlap_a_host_address_or_route(tmp_path: Path) -> None:
    probe = bridge.ensure_network(NetworkSpec("it_probe"))
    first_free = ipaddress.ip_network(probe.subnet)
    bridge.remove_network("it_probe")
    second_free = ipaddress.ip_network((first_free.network_address + 256, first_free.prefixlen))
    fake_host_link = naming.link_name("d", str(tmp_path))
    with open_netlink() as netlink:
        netlink.add_bridge(fake_host_link)  # this kernel has no dummy links; a bridge does
        try:
            # an address in the first free subnet, and a route (no address) to the second
            netlink.add_address(fake_host_link, str(first_free.network_address + 200), 24)
            netlink.set_up(fake_host_link)
            subprocess.run(
                ["ip", "route", "add", str(second_free), "dev", fake_host_link], check=True
            )
            network = bridge.ensure_network(NetworkSpec("it_skip"))
            subnet = ipaddress.ip_network(network.subnet)
            assert not subnet.overlaps(first_free) and not subnet.overlaps(second_free)
        finally:
            netlink.delete_link(fake_host_link)


def test_static_address_and_ipam_config_are_honoured() -> None:
    from stackr.network.ipam import IpamError, SubnetRequest

    request = SubnetRequest(
        subnet="10.214.7.0/24", gateway="10.214.7.254", ip_range="10.214.7.128/25"
    )
    network = bridge.ensure_network(NetworkSpec("it_static", ipam=request))
    assert (network.subnet, network.gateway) == ("10.214.7.0/24", "10.214.7.254")
    dynamic = _container("dyn", network)
    assert dynamic.ipv4_address == "10.214.7.128"
    sandbox = attach.create_sandbox("fixed")
    fixed = attach.attach("fixed", sandbox, network, ipv4_address="10.214.7.9")
    assert fixed.ipv4_address == "10.214.7.9"
    assert in_netns(sandbox, BUSYBOX, "ping", "-c1", "-W2", dynamic.ipv4_address).returncode == 0
    with pytest.raises(IpamError, match="already used by fixed"):
        attach.attach("thief", attach.create_sandbox("thief"), network, ipv4_address="10.214.7.9")


def test_remove_is_idempotent_and_leaves_nothing() -> None:
    network = bridge.ensure_network(NetworkSpec("it_gone"))
    assert bridge.ensure_network(NetworkSpec("it_gone")) == network  # idempotent
    _container("gone1", network)
    with pytest.raises(bridge.NetworkInUseError, match="gone1"):
        bridge.remove_network("it_gone")
    attach.remove_sandbox("gone1")
    attach.remove_sandbox("gone1")
    bridge.remove_network("it_gone")
    bridge.remove_network("it_gone")
    assert not firewall.table_exists()
    assert not [n for n in os.listdir("/sys/class/net") if n in (network.bridge_ifname,)]
    assert not attach.sandbox_path("gone1").exists()


def test_a_released_sandbox_leaves_its_veths_to_the_networks_removal() -> None:
    network = bridge.ensure_network(NetworkSpec("it_release"))
    first = _container("rel1", network)
    second = _container("rel2", network)
    dying = attach.release_sandbox("rel1") + attach.release_sandbox("rel2")
    # The records and leases go at once; the veths (if the kernel has not taken them
    # yet) are the bridge's last ports, and nothing else is.
    assert attach.list_attachments() == []
    assert bridge.ipam_store().load().networks[network.network_id].addresses == {}
    assert set(dying) <= {first.host_ifname, second.host_ifname}
    assert set(host_netlink().bridge_ports(network.bridge_ifname)) <= set(dying)
    bridge.remove_network("it_release")
    # The removal waited for them: no link of the network is left.
    left = set(os.listdir("/sys/class/net"))
    assert not left & {network.bridge_ifname, first.host_ifname, second.host_ifname}


def test_a_sandbox_made_again_at_once_gets_a_new_veth() -> None:
    # A start whose networking failed releases its sandbox and is tried again: the
    # dying veth of the same name must not be taken for the new one.
    network = bridge.ensure_network(NetworkSpec("it_again"))
    for _ in range(3):
        attachment = _container("again1", network)
        sandbox = attach.sandbox_path("again1")
        assert "eth0" in in_netns(sandbox, BUSYBOX, "ip", "link").stdout
        attach.release_sandbox("again1")
    bridge.remove_network("it_again")
    assert not host_netlink().link_exists(attachment.host_ifname)


def test_settling_deletes_a_veth_whose_namespace_is_still_held(tmp_path: Path) -> None:
    network = bridge.ensure_network(NetworkSpec("it_held"))
    held = _container("held1", network)
    holder = os.open(attach.sandbox_path("held1"), os.O_RDONLY)  # keeps the netns alive
    try:
        dying = attach.release_sandbox("held1")
        assert dying == [held.host_ifname]
        started = time.monotonic()
        settle_links(host_netlink(), dying)
        assert time.monotonic() - started >= VETH_GONE_SECONDS * 0.9
        assert not host_netlink().link_exists(held.host_ifname)
    finally:
        os.close(holder)
    bridge.remove_network("it_held")


def test_fifty_networks_created_and_removed_leave_nothing() -> None:
    made = [bridge.ensure_network(NetworkSpec(f"it_many_{i}")) for i in range(50)]
    assert len({n.subnet for n in made}) == 50
    for network in made:
        bridge.remove_network(network.network_id)
    assert bridge.list_networks() == []
    assert not firewall.table_exists()


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _host_address() -> str:
    """A non-loopback address of the host (the one of its default route's interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.123", 9))  # no packet is sent: connect() on UDP only routes
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("the host has no non-loopback IPv4 address")
    return address


def test_half_made_objects_are_finished_by_remove_and_repaired_by_restore() -> None:
    from stackr.network import netns, recovery
    from stackr.network.netlink import open_netlink as open_host_netlink

    network = bridge.ensure_network(NetworkSpec("it_crash"))
    kept = _container("kept", network, "kept")
    lost = _container("lost", network, "lost")
    # a "reboot" for one sandbox and the bridge: the kernel objects vanish, records stay
    netns.remove_netns(attach.sandbox_path("lost"))
    with open_host_netlink() as netlink:
        netlink.delete_link(network.bridge_ifname)
    firewall.remove_table()
    server = dns.Resolver(upstreams=[])
    try:
        report = recovery.restore(server)
        assert report.networks == ["it_crash"]
        assert report.attachments == ["kept/it_crash"]
        assert report.detached_stale == ["lost/it_crash"]
        assert server.lookup("it_crash", kept.ipv4_address, "kept") == [kept.ipv4_address]
        assert firewall.table_exists()
        assert os.path.exists(f"/sys/class/net/{network.bridge_ifname}")
        # the kept sandbox's veth is a port of the re-made bridge again after re-attach
        attach.attach("kept", attach.sandbox_path("kept"), network)
        ping = in_netns(attach.sandbox_path("kept"), BUSYBOX, "ping", "-c1", "-W2", network.gateway)
        assert ping.returncode == 0
        assert lost.ipv4_address not in [a.ipv4_address for a in attach.list_attachments()]
    finally:
        server.close()


def test_a_port_range_and_a_container_reaching_a_published_port_through_the_host(
    processes: Processes, tmp_path: Path
) -> None:
    network = bridge.ensure_network(NetworkSpec("it_range"))
    web = _container("web9", network)
    client = _container("client9", network)
    _serve_http(processes, attach.sandbox_path("web9"), tmp_path / "a", port=80)
    _serve_http(processes, attach.sandbox_path("web9"), tmp_path / "b", port=81)
    first = _free_port()
    specs = ports.expand_range((80, 81), (first, first + 1))
    ports.check_ports_available(specs)
    published = ports.publish("web9", specs, web.ipv4_address)
    assert [p.render() for p in published] == [
        f"0.0.0.0:{first}->80/tcp",
        f"0.0.0.0:{first + 1}->81/tcp",
    ]
    for port in (first, first + 1):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.read() == b"hello from the container\n"
    # hairpin: from a container of the same network through the host's address
    fetched = in_netns(
        attach.sandbox_path("client9"),
        sys.executable,
        "-c",
        FETCH.replace("http://db/", f"http://{_host_address()}:{first}/"),
    )
    assert fetched.stdout == "hello from the container\n", fetched.stderr
    assert client.ipv4_address != web.ipv4_address
    # a container of another network reaches the published port too (not the container)
    other = bridge.ensure_network(NetworkSpec("it_range_other"))
    _container("stranger9", other)
    fetched = in_netns(
        attach.sandbox_path("stranger9"),
        sys.executable,
        "-c",
        FETCH.replace("http://db/", f"http://{_host_address()}:{first}/"),
    )
    assert fetched.stdout == "hello from the container\n", fetched.stderr
    direct = in_netns(
        attach.sandbox_path("stranger9"), BUSYBOX, "ping", "-c1", "-W1", web.ipv4_address
    )
    assert direct.returncode != 0


def test_netns_dir_on_a_shared_mount_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackr.network import netns

    shared = tmp_path / "shared-run"
    shared.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "stackr-test", str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        monkeypatch.setenv("STACKR_RUN", str(shared))
        sandbox = attach.create_sandbox("private1")
        mounts = {
            line.split()[4]: line.split()[6 : line.split().index("-")]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
        }
        assert mounts[str(shared)] == ["shared:" + mounts[str(shared)][0].split(":")[1]]
        assert mounts[str(netns.netns_dir())] == []  # private: no propagation either way
        assert mounts[str(sandbox)] == []
        attach.remove_sandbox("private1")
        netns.release_netns_dir()
        assert not netns.netns_dir().exists()
    finally:
        subprocess.run(["umount", "-l", str(shared)], check=False)


def test_containers_wired_in_parallel_threads_get_distinct_addresses_and_work() -> None:
    from concurrent.futures import ThreadPoolExecutor

    network = bridge.ensure_network(NetworkSpec("it_parallel"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda i: _container(f"par{i}", network), range(16)))
    addresses = [a.ipv4_address for a in made]
    assert len(set(addresses)) == 16
    recorded = bridge.ipam_store().load().networks["it_parallel"].addresses
    assert sorted(str(a) for a in recorded.values()) == sorted(addresses)
    ping = in_netns(attach.sandbox_path("par0"), BUSYBOX, "ping", "-c1", "-W2", addresses[-1])
    assert ping.returncode == 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: attach.remove_sandbox(f"par{i}"), range(16)))
    assert attach.list_attachments() == []


def test_published_port_is_reachable_from_another_host(
    processes: Processes, tmp_path: Path
) -> None:
    """Another "host": a netns joined to this host by a veth pair on 198.51.100.0/30
    (TEST-NET-2), so the connection comes in through prerouting and forward, as from
    the LAN."""
    from pyroute2 import IPRoute

    from stackr.network import netns

    network = bridge.ensure_network(NetworkSpec("it_remote"))
    web = _container("web10", network)
    _serve_http(processes, attach.sandbox_path("web10"), tmp_path / "www")
    [published] = ports.publish("web10", [ports.PortSpec(80)], web.ipv4_address)
    remote = netns.create_netns(netns.netns_dir() / "remote-host")
    link = naming.link_name("r", str(tmp_path))
    fd = os.open(remote, os.O_RDONLY)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=link, kind="veth", peer={"ifname": "eth0", "net_ns_fd": fd})
            index = ipr.link_lookup(ifname=link)[0]
            ipr.addr("add", index=index, address="198.51.100.1", prefixlen=30)
            ipr.link("set", index=index, state="up")
        in_netns(remote, BUSYBOX, "ip", "addr", "add", "198.51.100.2/30", "dev", "eth0")
        in_netns(remote, BUSYBOX, "ip", "link", "set", "eth0", "up")
        fetched = in_netns(
            remote,
            sys.executable,
            "-c",
            FETCH.replace("http://db/", f"http://198.51.100.1:{published.host_port}/"),
        )
        assert fetched.stdout == "hello from the container\n", fetched.stderr
    finally:
        os.close(fd)
        with IPRoute() as ipr:
            if ipr.link_lookup(ifname=link):
                ipr.link("del", ifname=link)
        netns.remove_netns(remote)
