"""Benchmark: set-up time of one container's network attachment, and how it grows.

Run as root: ``PYTHONPATH=. python bench/network_attach.py [COUNT]``. Uses a temporary
STACKR_ROOT/STACKR_RUN, creates one network and COUNT sandboxes attached to it, prints
per-step timings (median and p90 over all containers, and the first/last ten to show
growth), then removes everything.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    base = tempfile.mkdtemp(prefix="stackr-bench-net-")
    os.environ["STACKR_ROOT"] = f"{base}/root"
    os.environ["STACKR_RUN"] = f"{base}/run"
    from stackr.network import attach, bridge, dns, netns

    started = time.perf_counter()
    network = bridge.ensure_network(bridge.NetworkSpec("bench_net"))
    network_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    bridge.ensure_network(bridge.NetworkSpec("bench_net"))
    network_again_ms = (time.perf_counter() - started) * 1000
    resolver = dns.Resolver(upstreams=[])
    resolver.serve_network(network.network_id, network.gateway)
    sandbox_ms: list[float] = []
    attach_ms: list[float] = []
    dns_ms: list[float] = []
    try:
        for index in range(count):
            container_id = f"bench{index}"
            t0 = time.perf_counter()
            sandbox = attach.create_sandbox(container_id)
            t1 = time.perf_counter()
            attachment = attach.attach(container_id, sandbox, network, names=[f"svc{index}"])
            t2 = time.perf_counter()
            resolver.register(
                container_id, network.network_id, attachment.ipv4_address, attachment.names
            )
            t3 = time.perf_counter()
            sandbox_ms.append((t1 - t0) * 1000)
            attach_ms.append((t2 - t1) * 1000)
            dns_ms.append((t3 - t2) * 1000)
        lookup_us = _lookup_latency(network.gateway)
    finally:
        resolver.close()
        removed = time.perf_counter()
        for index in range(count):
            attach.remove_sandbox(f"bench{index}")
        remove_ms = (time.perf_counter() - removed) * 1000 / max(count, 1)
        bridge.remove_network("bench_net")
        netns.release_netns_dir()

    def line(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[int(len(ordered) * 0.9) - 1] if len(ordered) >= 10 else ordered[-1]
        first = statistics.median(values[:10])
        last = statistics.median(values[-10:])
        return (
            f"{name:<22} median {statistics.median(values):6.2f} ms  p90 {p90:6.2f} ms  "
            f"first10 {first:6.2f}  last10 {last:6.2f}"
        )

    print(f"ensure_network (new)   {network_ms:6.1f} ms (includes importing pyroute2 and nft)")
    print(f"ensure_network (again) {network_again_ms:6.1f} ms")
    print(line("create_sandbox", sandbox_ms))
    print(line("attach", attach_ms))
    print(line("sandbox+attach", [a + b for a, b in zip(sandbox_ms, attach_ms, strict=True)]))
    print(line("dns register", dns_ms))
    print(f"dns lookup (UDP, from host) median {lookup_us:.0f} us")
    print(f"remove_sandbox         {remove_ms:6.2f} ms per container")
    return 0


def _lookup_latency(gateway: str) -> float:
    import socket
    import struct

    query = (
        struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x04svc0\x00" + struct.pack("!HH", 1, 1)
    )
    samples = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        for _ in range(200):
            started = time.perf_counter()
            client.sendto(query, (gateway, 53))
            client.recvfrom(512)
            samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


if __name__ == "__main__":
    raise SystemExit(main())
