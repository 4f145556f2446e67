"""Benchmark: TCP throughput host → container through a published port (nftables DNAT),
next to the same transfer over plain loopback (the limit).

Run as root: ``PYTHONPATH=. python bench/network_throughput.py [MEGABYTES]``. A Python
sink (read and count) runs inside a netns via ``nsenter``; the host sends MEGABYTES to
``127.0.0.1:<published>`` and, for the baseline, to a sink on the host's loopback.
Docker is not installed on these machines, so its column is not measured here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

SINK = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen()
print("ready", server.getsockname()[1], flush=True)
conn, _ = server.accept()
total = 0
while chunk := conn.recv(1 << 20):
    total += len(chunk)
conn.sendall(str(total).encode())
conn.close()
"""


def send(host: str, port: int, megabytes: int) -> float:
    block = b"x" * (1 << 20)
    started = time.perf_counter()
    with socket.create_connection((host, port)) as conn:
        for _ in range(megabytes):
            conn.sendall(block)
        conn.shutdown(socket.SHUT_WR)
        received = int(conn.recv(64))
    elapsed = time.perf_counter() - started
    assert received == megabytes << 20, received
    return megabytes / elapsed


def run_sink(prefix: list[str], bind: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [*prefix, sys.executable, "-c", SINK, bind, "0" if bind == "127.0.0.1" else "5001"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline().split()[1])
    return process, port


def main() -> int:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    base = tempfile.mkdtemp(prefix="stackr-bench-tput-")
    os.environ["STACKR_ROOT"] = f"{base}/root"
    os.environ["STACKR_RUN"] = f"{base}/run"
    from stackr.network import attach, bridge, netns, ports

    process, port = run_sink([], "127.0.0.1")
    loopback = send("127.0.0.1", port, megabytes)
    process.wait()
    network = bridge.ensure_network(bridge.NetworkSpec("bench_tput"))
    try:
        sandbox = attach.create_sandbox("sink")
        attachment = attach.attach("sink", sandbox, network)
        process, container_port = run_sink(["nsenter", f"--net={sandbox}"], "0.0.0.0")
        [published] = ports.publish(
            "sink", [ports.PortSpec(container_port, host_ip="127.0.0.1")], attachment.ipv4_address
        )
        through_dnat = send("127.0.0.1", published.host_port, megabytes)
        process.wait()
    finally:
        ports.unpublish("sink")
        attach.remove_sandbox("sink")
        bridge.remove_network("bench_tput")
        netns.release_netns_dir()
    print(f"loopback (limit)            {loopback:8.0f} MB/s")
    print(f"published port (DNAT, veth) {through_dnat:8.0f} MB/s  ({through_dnat / loopback:.0%})")
    print("docker published port      not measured (Docker is not installed here)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
