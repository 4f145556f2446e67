"""Fixtures for network integration tests: a resolver, busybox "containers" in netns files.

A test "container" is a netns made by ``attach.create_sandbox`` with busybox run inside
through ``nsenter --net=<file>``. ``network_teardown`` removes everything the driver
recorded (sandboxes, published ports, networks) even when a test fails half-way, and
then checks what the shared leak fixture cannot see: no nftables table of this state
root is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackr.network import attach, bridge, dns, firewall, netns, ports, records


class Processes:
    """Processes a test started; each ended by its own pid at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **options: object) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(args, **options)  # type: ignore[call-overload]
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait()


def in_netns(sandbox: Path, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net={sandbox}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_listening(pid: int, port: int, protocol: str = "tcp", timeout: float = 5) -> None:
    """Wait until a socket on ``port`` shows in the netns of ``pid`` (its /proc/PID/net)."""
    deadline = time.monotonic() + timeout
    wanted = f":{port:04X} "
    while time.monotonic() < deadline:
        table = ""
        for family in ("", "6"):  # busybox httpd listens on [::] (dual stack)
            try:
                table += Path(f"/proc/{pid}/net/{protocol}{family}").read_text()
            except OSError:
                continue
        for line in table.splitlines()[1:]:
            fields = line.split()
            if fields[0] == "sl":
                continue
            if (fields[1] + " ").endswith(wanted) and (protocol == "udp" or fields[3] == "0A"):
                return
        time.sleep(0.005)
    raise AssertionError(f"nothing listens on {protocol} port {port} in the netns of pid {pid}")


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop_all()


@pytest.fixture
def resolver() -> Iterator[dns.Resolver]:
    server = dns.Resolver(upstreams=[])
    yield server
    server.close()


@pytest.fixture(autouse=True)
def network_teardown(processes: Processes) -> Iterator[None]:
    yield
    processes.stop_all()
    for published in ports.list_published():
        ports.unpublish(published.container_id)
    root = records.network_root()
    containers = {a.container_id for a in attach.list_attachments()}
    if netns.netns_dir().is_dir():
        containers |= {p.name for p in netns.netns_dir().iterdir()}
    for container_id in sorted(containers):
        attach.remove_sandbox(container_id)
    for network in bridge.list_networks():
        bridge.remove_network(network.network_id)
    netns.release_netns_dir()
    assert not firewall.table_exists(), f"nft table {firewall.table_name()} left behind"
    assert not list((root / "networks").glob("*.json")) if root.exists() else True
