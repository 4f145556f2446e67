from __future__ import annotations

import socket

import pytest

from stackr.errors import PreconditionError, UsageError
from stackr.network import etcfiles, firewall, ports


def test_render_table_is_deterministic_and_complete() -> None:
    networks = [
        firewall.NetworkRule("stkbbbbb", "10.213.1.0/24", internal=True),
        firewall.NetworkRule("stkbaaaa", "10.213.0.0/24", internal=False),
    ]
    dnats = [
        firewall.DnatRule("udp", "0.0.0.0", 5353, "10.213.0.3", 53),
        firewall.DnatRule("tcp", "127.0.0.1", 8080, "10.213.0.2", 80),
    ]
    text = firewall.render_table("stackr_x", networks, dnats)
    assert text == firewall.render_table("stackr_x", networks[::-1], dnats[::-1])
    assert "    ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.213.0.2:80\n" in text
    assert "    udp dport 5353 dnat to 10.213.0.3:53\n" in text
    assert '    ip saddr 10.213.0.0/24 oifname != "stkbaaaa" masquerade\n' in text
    assert 'ip saddr 10.213.1.0/24 oifname != "stkbbbbb" masquerade' not in text  # internal
    assert '    iifname "stkbbbbb" oifname != "stkbbbbb" drop\n' in text
    assert '    oifname "stkbbbbb" iifname != "stkbbbbb" drop\n' in text
    assert '    iifname "stkbaaaa" oifname != "stkbaaaa" oifname "stkb*" drop\n' in text
    forward = text[text.index("chain forward") :]
    assert (
        forward.index('oifname "stkbbbbb" iifname')
        < forward.index("ct status dnat accept")
        < forward.index('iifname "stkbaaaa"')
    )


def test_table_name_depends_on_the_state_root(monkeypatch: pytest.MonkeyPatch) -> None:
    first = firewall.table_name()
    monkeypatch.setenv("STACKR_ROOT", "/elsewhere")
    assert firewall.table_name() != first
    assert first.startswith("stackr_")


def test_expand_range() -> None:
    assert ports.expand_range((80, 82), (8080, 8082)) == [
        ports.PortSpec(80, "tcp", "0.0.0.0", 8080),
        ports.PortSpec(81, "tcp", "0.0.0.0", 8081),
        ports.PortSpec(82, "tcp", "0.0.0.0", 8082),
    ]
    assert ports.expand_range((53, 53), None, "udp") == [ports.PortSpec(53, "udp", "0.0.0.0", None)]
    with pytest.raises(UsageError, match="same length"):
        ports.expand_range((80, 81), (8080, 8082))
    with pytest.raises(UsageError, match="empty"):
        ports.expand_range((81, 80), None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ports.PortSpec(80, "sctp"), "not tcp or udp"),
        (ports.PortSpec(0), "outside"),
        (ports.PortSpec(80, host_port=70000), "outside"),
        (ports.PortSpec(80, host_ip="localhost"), "not an address"),
        (ports.PortSpec(80, host_ip="::1"), "IPv6"),
    ],
)
def test_bad_port_specs_are_usage_errors(spec: ports.PortSpec, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ports.check_ports_available([spec])


def test_a_taken_port_names_this_process() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ports.PortInUseError, match=rf"127.0.0.1:{port}/tcp.*\(pid \d+\)"):
            ports.check_ports_available([ports.PortSpec(80, host_ip="127.0.0.1", host_port=port)])
        with pytest.raises(ports.PortInUseError, match="pid"):
            ports.check_ports_available([ports.PortSpec(80, host_port=port)])  # 0.0.0.0 clashes too


def test_published_port_renders_like_docker_port() -> None:
    published = ports.PublishedPort("c", "udp", "127.0.0.1", 5353, "10.0.0.2", 53)
    assert published.render() == "127.0.0.1:5353->53/udp"


def test_resolv_conf_and_hosts() -> None:
    assert etcfiles.render_resolv_conf(["10.213.0.1"], ["corp.example"], ["ndots:2"]) == (
        "nameserver 10.213.0.1\nsearch corp.example\noptions ndots:2\n"
    )
    hosts = etcfiles.render_hosts(
        "web",
        ["10.213.0.2"],
        [etcfiles.parse_extra_host("host.docker.internal:host-gateway"), ("db", "10.9.9.9")],
        gateway="10.213.0.1",
    )
    assert "10.213.0.2\tweb\n" in hosts
    assert "10.213.0.1\thost.docker.internal\n" in hosts
    assert "10.9.9.9\tdb\n" in hosts
    assert etcfiles.parse_extra_host("v6=[::1]") == ("v6", "::1")
    with pytest.raises(ValueError):
        etcfiles.parse_extra_host("nonsense")
    with pytest.raises(ValueError, match="host-gateway"):
        etcfiles.render_hosts("web", [], [("h", "host-gateway")])


def test_a_host_port_range_for_one_port_takes_the_first_free_one() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        spec = ports.PortSpec(80, host_ip="127.0.0.1", host_port=taken, host_port_end=taken)
        with pytest.raises(ports.PortInUseError, match="every port of the range"):
            ports.check_ports_available([spec])
        wider = ports.PortSpec(80, host_ip="127.0.0.1", host_port=taken, host_port_end=taken + 20)
        sock = ports._bind_spec(wider, "c")
        try:
            assert taken < sock.getsockname()[1] <= taken + 20
        finally:
            sock.close()
    with pytest.raises(UsageError, match="empty"):
        ports.check_ports_available([ports.PortSpec(80, host_port=90, host_port_end=89)])


def test_a_failed_publish_leaves_no_record_and_no_reservation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []

    def failing_sync() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise PreconditionError("nft is not installed")

    monkeypatch.setattr(firewall, "sync", failing_sync)
    with pytest.raises(PreconditionError):
        ports.publish("c1", [ports.PortSpec(80, host_ip="127.0.0.1")], "10.0.0.2")
    assert ports.list_published() == []
    assert "c1" not in ports._reservations
