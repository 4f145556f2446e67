"""Name resolution for containers: a DNS resolver served by the engine on each gateway.

Why an engine-served DNS rather than managed ``/etc/hosts`` files (Docker made the same
choice with its embedded DNS, Podman with aardvark-dns):

* a peer recreated with a new address is found again at once: the engine updates one
  in-memory table, while a hosts file would have to be rewritten inside every running
  container that might look the peer up (and a bind-mounted file replaced by rename is
  not seen by the container at all);
* a service name answers with *all* its replicas (shuffled: simple load spreading),
  which a hosts file cannot express usefully (resolvers take the first line);
* names are scoped by network per *client*: the querying container is identified by its
  source address on the network the query came in on, and it is answered only the names
  on the networks it is attached to; other names (the internet, the host's intranet)
  are forwarded to the host's resolvers from ``/etc/resolv.conf``, which works even when
  those are host-loopback resolvers (systemd-resolved's 127.0.0.53): the forwarding
  happens in the engine, in the host's network namespace;
* ``dns:`` of a service becomes that container's upstream list (as in Docker).

Placement: one UDP socket per network, bound to the network's gateway address port 53
on the host (the bridge holds that address), so a container's ``resolv.conf`` names
its gateway (``etcfiles.render_resolv_conf``). One serving thread multiplexes every
socket with ``selectors``; forwarded queries run in a small thread pool so a slow
upstream never blocks local answers. No fork anywhere.

Reverse lookups (PTR) of container addresses answer the container's first name (its
service name), as Docker's embedded DNS does; other reverse lookups are forwarded.
Clients on ``internal`` networks only get stackr names (no forwarding: internal means no
way out, and a DNS forwarder is a way out). Answers use a short TTL (5 s) so a
recreated peer is not cached for long. UDP only; an answer is capped at what fits in
512 bytes (about 30 replicas).
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import selectors
import socket
import struct
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stackr.errors import HostError

DNS_PORT = 53
TTL_SECONDS = 5
MAX_UDP_ANSWER = 512
FORWARD_TIMEOUT_SECONDS = 2.0
TYPE_A = 1
TYPE_PTR = 12
CLASS_IN = 1
RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3


# --- wire format ------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    name: str  # lower-case, no trailing dot
    qtype: int
    qclass: int
    end: int  # offset just past the question in the message


def parse_question(message: bytes) -> Question:
    """The first question of a query; ``ValueError`` if malformed."""
    if len(message) < 12:
        raise ValueError("short header")
    flags, qdcount = struct.unpack("!2xHH", message[:6])
    if flags & 0x8000 or qdcount < 1:
        raise ValueError("not a query")
    offset = 12
    labels = []
    while True:
        if offset >= len(message):
            raise ValueError("truncated name")
        length = message[offset]
        offset += 1
        if length == 0:
            break
        if length & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(message[offset : offset + length].decode("ascii", "replace"))
        offset += length
    if offset + 4 > len(message):
        raise ValueError("truncated question")
    qtype, qclass = struct.unpack("!HH", message[offset : offset + 4])
    return Question(".".join(labels).lower(), qtype, qclass, offset + 4)


def build_reply(
    query: bytes, question: Question | None, rcode: int, addresses: Sequence[str]
) -> bytes:
    """A reply echoing the question, with A records for ``addresses``."""
    query_id, query_flags = struct.unpack("!HH", query[:4])
    # QR, opcode and RD copied from the query, AA and RA set.
    flags = 0x8000 | (query_flags & 0x7900) | 0x0400 | 0x0080 | rcode
    if question is None:
        return struct.pack("!HHHHHH", query_id, flags, 0, 0, 0, 0)
    question_bytes = query[12 : question.end]
    room = (MAX_UDP_ANSWER - 12 - len(question_bytes)) // 16
    answers = list(addresses)[: max(room, 0)]
    header = struct.pack("!HHHHHH", query_id, flags, 1, len(answers), 0, 0)
    records = b"".join(
        struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL_SECONDS, 4) + socket.inet_aton(a)
        for a in answers
    )
    return header + question_bytes + records


def build_ptr_reply(query: bytes, question: Question, name: str) -> bytes:
    """A reply to a reverse lookup (``d.c.b.a.in-addr.arpa``) naming one container."""
    query_id, query_flags = struct.unpack("!HH", query[:4])
    flags = 0x8000 | (query_flags & 0x7900) | 0x0400 | 0x0080 | RCODE_OK
    rdata = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
    header = struct.pack("!HHHHHH", query_id, flags, 1, 1, 0, 0)
    record = struct.pack("!HHHIH", 0xC00C, TYPE_PTR, CLASS_IN, TTL_SECONDS, len(rdata)) + rdata
    return header + query[12 : question.end] + record


def reverse_address(name: str) -> str | None:
    """``"4.0.213.10.in-addr.arpa"`` → ``"10.213.0.4"``; None for anything else."""
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        return None
    return ".".join(reversed(parts))


def host_resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """``nameserver`` lines (IPv4) of the host's resolv.conf."""
    servers = []
    with contextlib.suppress(OSError):
        for line in resolv_conf.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    if ipaddress.ip_address(fields[1]).version == 4:
                        servers.append(fields[1])
    return servers


# --- the table of names -----------------------------------------------------------------


@dataclass
class _Endpoint:
    container_id: str
    network_id: str
    address: str
    names: tuple[str, ...]
    upstreams: tuple[str, ...]


@dataclass
class NameTable:
    """Who is where: endpoints by (network, address); pure lookups, guarded by the caller."""

    endpoints: dict[tuple[str, str], _Endpoint] = field(default_factory=dict)
    internal_networks: set[str] = field(default_factory=set)

    def add(self, endpoint: _Endpoint) -> None:
        self.endpoints[(endpoint.network_id, endpoint.address)] = endpoint

    def remove(self, container_id: str, network_id: str) -> None:
        for key, endpoint in list(self.endpoints.items()):
            if endpoint.container_id == container_id and endpoint.network_id == network_id:
                del self.endpoints[key]

    def client(self, network_id: str, address: str) -> _Endpoint | None:
        return self.endpoints.get((network_id, address))

    def networks_of(self, network_id: str, client_address: str) -> set[str]:
        """The networks whose names a client may see: all of its container's networks."""
        client = self.client(network_id, client_address)
        if client is None:
            return {network_id}
        return {
            e.network_id for e in self.endpoints.values() if e.container_id == client.container_id
        }

    def lookup(self, network_id: str, client_address: str, name: str) -> list[str]:
        """Addresses for ``name`` as seen by the client; sorted (the server shuffles)."""
        name = name.lower().rstrip(".")
        visible = self.networks_of(network_id, client_address)
        found = set()
        for endpoint in self.endpoints.values():
            if endpoint.network_id in visible and name in endpoint.names:
                found.add(endpoint.address)
        return sorted(found, key=lambda a: ipaddress.IPv4Address(a))

    def reverse(self, network_id: str, client_address: str, address: str) -> str | None:
        """The first name of a visible endpoint holding ``address`` (for PTR queries)."""
        visible = self.networks_of(network_id, client_address)
        for endpoint in self.endpoints.values():
            if endpoint.network_id in visible and endpoint.address == address and endpoint.names:
                return endpoint.names[0]
        return None

    def may_forward(self, network_id: str, client_address: str) -> bool:
        visible = self.networks_of(network_id, client_address)
        return not visible <= self.internal_networks

    def upstreams_of(self, network_id: str, client_address: str) -> tuple[str, ...]:
        client = self.client(network_id, client_address)
        return client.upstreams if client else ()


# --- the server -------------------------------------------------------------------------


class Resolver:
    """The engine's DNS server: ``serve_network`` per network, ``register`` per attachment.

    Thread-safe: every public method may be called from any engine thread.
    """

    def __init__(self, upstreams: Sequence[str] | None = None, port: int = DNS_PORT) -> None:
        self._port = port  # 53; unit tests use 0 (any free port) on loopback
        self._upstreams = tuple(upstreams if upstreams is not None else host_resolvers())
        self._table = NameTable()
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._sockets: dict[str, socket.socket] = {}
        self._wake_read, self._wake_write = socket.socketpair()
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="stackr-dns-forward")
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="stackr-dns", daemon=True)
        self._thread.start()

    # names

    def register(
        self,
        container_id: str,
        network_id: str,
        address: str,
        names: Iterable[str],
        upstreams: Sequence[str] = (),
    ) -> None:
        endpoint = _Endpoint(
            container_id,
            network_id,
            address,
            tuple(n.lower().rstrip(".") for n in names if n),
            tuple(upstreams),
        )
        with self._lock:
            self._table.remove(container_id, network_id)
            self._table.add(endpoint)

    def unregister(self, container_id: str, network_id: str) -> None:
        with self._lock:
            self._table.remove(container_id, network_id)

    def lookup(self, network_id: str, client_address: str, name: str) -> list[str]:
        with self._lock:
            return self._table.lookup(network_id, client_address, name)

    # sockets

    def serve_network(self, network_id: str, gateway: str, internal: bool = False) -> None:
        """Answer on ``gateway:53``; idempotent. The gateway address must exist (bridge up)."""
        with self._lock:
            if internal:
                self._table.internal_networks.add(network_id)
            else:
                self._table.internal_networks.discard(network_id)
            if network_id in self._sockets:
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((gateway, self._port))
            except OSError as error:
                sock.close()
                raise HostError.from_os_error(
                    "serve DNS on", f"{gateway}:{self._port} (network {network_id})", error
                ) from error
            sock.setblocking(False)
            self._sockets[network_id] = sock
            self._selector.register(sock, selectors.EVENT_READ, network_id)
        self._wake()

    def bound_address(self, network_id: str) -> tuple[str, int]:
        with self._lock:
            host, port = self._sockets[network_id].getsockname()
        return str(host), int(port)

    def stop_network(self, network_id: str) -> None:
        """Stop answering for a network and forget its names; absent is success."""
        with self._lock:
            sock = self._sockets.pop(network_id, None)
            if sock is not None:
                self._selector.unregister(sock)
                sock.close()
            self._table.internal_networks.discard(network_id)
            for endpoint in list(self._table.endpoints.values()):
                if endpoint.network_id == network_id:
                    self._table.remove(endpoint.container_id, network_id)

    def close(self) -> None:
        with self._lock:
            self._stopping = True
        self._wake()
        self._thread.join()
        with self._lock:
            for sock in self._sockets.values():
                sock.close()
            self._sockets.clear()
        self._pool.shutdown(wait=True)
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def _serve(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
            for key, _ in self._selector.select():
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_read.recv(4096)
                    continue
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    message, (client_ip, client_port) = sock.recvfrom(4096)
                except OSError:
                    continue  # closed by stop_network between select and recv
                self._answer(sock, str(key.data), message, (client_ip, client_port))

    def _answer(
        self, sock: socket.socket, network_id: str, message: bytes, client: tuple[str, int]
    ) -> None:
        if len(message) < 12:
            return
        try:
            question = parse_question(message)
        except ValueError:
            with contextlib.suppress(OSError):
                sock.sendto(build_reply(message, None, RCODE_FORMERR, ()), client)
            return
        reverse_of = reverse_address(question.name) if question.qtype == TYPE_PTR else None
        with self._lock:
            addresses = self._table.lookup(network_id, client[0], question.name)
            known = bool(addresses)
            ptr_name = (
                self._table.reverse(network_id, client[0], reverse_of) if reverse_of else None
            )
            may_forward = self._table.may_forward(network_id, client[0])
            upstreams = self._table.upstreams_of(network_id, client[0]) or self._upstreams
        if ptr_name is not None:
            reply = build_ptr_reply(message, question, ptr_name)
        elif known:
            random.shuffle(addresses)
            answer = addresses if question.qtype == TYPE_A and question.qclass == CLASS_IN else []
            reply = build_reply(message, question, RCODE_OK, answer)
        elif may_forward and upstreams:
            self._pool.submit(self._forward, sock, message, question, client, upstreams)
            return
        else:
            reply = build_reply(message, question, RCODE_NXDOMAIN, ())
        with contextlib.suppress(OSError):
            sock.sendto(reply, client)

    def _forward(
        self,
        sock: socket.socket,
        message: bytes,
        question: Question,
        client: tuple[str, int],
        upstreams: Sequence[str],
    ) -> None:
        reply = build_reply(message, question, RCODE_SERVFAIL, ())
        for upstream in upstreams:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                out.settimeout(FORWARD_TIMEOUT_SECONDS)
                try:
                    out.connect((upstream, DNS_PORT))
                    out.send(message)
                    answer = out.recv(65535)
                except OSError:
                    continue
                if answer[:2] == message[:2]:
                    reply = answer
                    break
        with contextlib.suppress(OSError):
            sock.sendto(reply, client)
