from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackr.network import dns


def query(name: str, qtype: int = dns.TYPE_A, query_id: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p)
    return (
        struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
        + labels
        + b"\0"
        + struct.pack("!HH", qtype, 1)
    )


def answers(reply: bytes) -> tuple[int, list[str]]:
    flags, _, ancount = struct.unpack("!2xHHH", reply[:8])
    question = dns.parse_question(reply.replace(reply[2:4], b"\x01\x00", 1))
    offset = question.end
    found = []
    for _ in range(ancount):
        rdlength = struct.unpack("!H", reply[offset + 10 : offset + 12])[0]
        found.append(socket.inet_ntoa(reply[offset + 12 : offset + 12 + rdlength]))
        offset += 12 + rdlength
    return flags & 0xF, found


def test_parse_question_and_build_reply() -> None:
    message = query("DB.example.")
    question = dns.parse_question(message)
    assert (question.name, question.qtype) == ("db.example", dns.TYPE_A)
    reply = dns.build_reply(message, question, dns.RCODE_OK, ["10.0.0.2", "10.0.0.3"])
    assert reply[:2] == b"\x12\x34"
    assert answers(reply) == (0, ["10.0.0.2", "10.0.0.3"])


@pytest.mark.parametrize("bad", [b"short", query("a")[:14], b"\x00\x00\x80\x00" + b"\x00" * 8])
def test_malformed_queries_are_rejected(bad: bytes) -> None:
    with pytest.raises(ValueError):
        dns.parse_question(bad)


def test_reply_is_capped_to_512_bytes() -> None:
    message = query("worker")
    many = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(100)]
    reply = dns.build_reply(message, dns.parse_question(message), dns.RCODE_OK, many)
    assert len(reply) <= 512
    assert len(answers(reply)[1]) > 25


def test_name_table_scopes_names_by_the_clients_networks() -> None:
    table = dns.NameTable()
    table.add(dns._Endpoint("web1", "front", "10.1.0.2", ("web",), ()))
    table.add(dns._Endpoint("web1", "back", "10.2.0.2", ("web",), ()))
    table.add(dns._Endpoint("db1", "back", "10.2.0.3", ("db",), ()))
    table.add(dns._Endpoint("db2", "back", "10.2.0.4", ("db",), ()))
    table.add(dns._Endpoint("proxy1", "front", "10.1.0.3", ("proxy",), ()))
    # web is on both networks: asking on front, it still sees back's db replicas
    assert table.lookup("front", "10.1.0.2", "DB.") == ["10.2.0.3", "10.2.0.4"]
    # proxy is only on front: db is not visible
    assert table.lookup("front", "10.1.0.3", "db") == []
    assert table.lookup("front", "10.1.0.3", "web") == ["10.1.0.2"]
    table.internal_networks.add("back")
    assert not table.may_forward("back", "10.2.0.3")
    assert table.may_forward("front", "10.1.0.2")
    table.remove("db2", "back")
    assert table.lookup("back", "10.2.0.3", "db") == ["10.2.0.3"]


def test_host_resolvers_reads_ipv4_nameservers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# x\nnameserver 127.0.0.53\nnameserver ::1\nsearch lan\nnameserver 9.9.9.9\n")
    assert dns.host_resolvers(conf) == ["127.0.0.53", "9.9.9.9"]
    assert dns.host_resolvers(tmp_path / "missing") == []


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    """A fake upstream DNS server on loopback answering every name with 192.0.2.99."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                message, peer = sock.recvfrom(4096)
            except OSError:
                continue
            question = dns.parse_question(message)
            sock.sendto(dns.build_reply(message, question, 0, ["192.0.2.99"]), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()
    stop.set()
    thread.join()
    sock.close()


def ask(address: tuple[str, int], name: str) -> tuple[int, list[str]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        client.sendto(query(name), address)
        return answers(client.recvfrom(4096)[0])


def test_resolver_answers_known_names_and_forwards_the_rest(
    upstream: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns, "DNS_PORT", upstream[1])  # forwarding goes to the fake upstream
    resolver = dns.Resolver(upstreams=[upstream[0]], port=0)
    try:
        resolver.serve_network("net", "127.0.0.1")
        resolver.register("c1", "net", "10.5.0.2", ["web", "stack-web-1"])
        resolver.register("c2", "net", "10.5.0.3", ["web"])
        address = resolver.bound_address("net")
        rcode, replicas = ask(address, "web")
        assert (rcode, sorted(replicas)) == (0, ["10.5.0.2", "10.5.0.3"])
        assert ask(address, "stack-web-1") == (0, ["10.5.0.2"])
        assert ask(address, "elsewhere.example") == (0, ["192.0.2.99"])
        resolver.unregister("c1", "net")
        assert ask(address, "stack-web-1") == (0, ["192.0.2.99"])  # gone: forwarded now
        started = time.perf_counter()
        for _ in range(100):
            ask(address, "web")
        assert time.perf_counter() - started < 10  # a sanity bound, not a benchmark
        resolver.serve_network("inner", "127.0.0.2", internal=True)
        assert ask(resolver.bound_address("inner"), "elsewhere.example") == (dns.RCODE_NXDOMAIN, [])
        resolver.stop_network("inner")
        resolver.stop_network("inner")
    finally:
        resolver.close()


def test_reverse_lookup_of_a_container_address() -> None:
    assert dns.reverse_address("4.0.213.10.in-addr.arpa") == "10.213.0.4"
    assert dns.reverse_address("x.0.213.10.in-addr.arpa") is None
    assert dns.reverse_address("example.com") is None
    resolver = dns.Resolver(upstreams=[], port=0)
    try:
        resolver.serve_network("net", "127.0.0.1")
        resolver.register("c1", "net", "10.5.0.2", ["web", "stack-web-1"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(3)
            client.sendto(
                query("2.0.5.10.in-addr.arpa", dns.TYPE_PTR), resolver.bound_address("net")
            )
            reply = client.recvfrom(512)[0]
        assert struct.unpack("!H", reply[6:8])[0] == 1  # one answer
        assert reply.endswith(b"\x03web\x00")
    finally:
        resolver.close()
