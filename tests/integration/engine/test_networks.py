"""Networks through the engine: containers find each other by alias, ports are published."""

from __future__ import annotations

import os
import secrets
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from stackr.client import EngineConflictError, EngineNotFoundError
from stackr.naming import LABEL_PROJECT
from tests.integration.engine.conftest import EngineProcess
from tests.unit.engine.openapi_subset import response_schema, validate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_dns_by_alias_and_a_published_port(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    network = f"it{secrets.token_hex(4)}_default"
    created = client.request("POST", "/networks/create",
                             {"Name": network, "Labels": {LABEL_PROJECT: "it"}})
    try:
        assert created["Id"] == network
        inspected = client.request("GET", f"/networks/{network}")
        bridge = inspected["Options"]["com.docker.network.bridge.name"]
        assert Path("/sys/class/net", bridge).exists()
        schema = response_schema("/networks/{id}", "GET", 200)
        assert schema is not None and validate(inspected, schema) == []
        assert [n["Name"] for n in client.request(
            "GET", "/networks?filters=" + f'{{"label":["{LABEL_PROJECT}=it"]}}')] == [network]
        host_port = _free_port()
        server = client.container_create({
            "Cmd": ["sh", "-c", "echo hello > /tmp/index.html; httpd -f -p 8080 -h /tmp"],
            "RootfsDir": str(rootfs),
            "HostConfig": {"NetworkMode": network,
                           "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1",
                                                          "HostPort": str(host_port)}]}},
            "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": ["web"]}}},
        }, name=f"{network}-web")
        client.container_start(server)
        address = client.container_inspect(server)["NetworkSettings"]["Networks"][network][
            "IPAddress"]
        probe = client.container_create({
            "Cmd": ["sh", "-c", "wget -q -O - http://web:8080/index.html"],
            "RootfsDir": str(rootfs),
            "HostConfig": {"NetworkMode": network},
        })
        client.container_start(probe)
        assert client.container_wait(probe)["StatusCode"] == 0, list(
            client.container_logs(probe))
        assert [e["log"] for e in client.container_logs(probe)] == ["hello\n"]
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{host_port}/index.html", timeout=2
                ) as answer:
                    assert answer.read() == b"hello\n"
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert address
        # Inspect names the attached containers; a list, as Docker's, does not.
        assert server in client.request("GET", f"/networks/{network}")["Containers"]
        listed = client.request("GET", "/networks?filters=" + f'{{"name":["{network}"]}}')
        assert [n["Containers"] for n in listed] == [{}]
        with pytest.raises(EngineConflictError):
            client.request("DELETE", f"/networks/{network}")  # containers attached
        client.container_remove(server, force=True)
        client.container_remove(probe, force=True)
    finally:
        for container in client.containers(all=True):
            client.container_remove(container["Id"], force=True)
        client.request("DELETE", f"/networks/{network}")
    with pytest.raises(EngineNotFoundError):
        client.request("GET", f"/networks/{network}")
    assert not Path("/sys/class/net", bridge).exists()
    own_links = [name for name in os.listdir("/sys/class/net") if server[:8] in name]
    assert own_links == []


def test_a_container_on_an_unknown_network_is_404(engine: EngineProcess, rootfs: Path) -> None:
    with pytest.raises(EngineNotFoundError):
        engine.client().container_create({
            "Cmd": ["true"], "RootfsDir": str(rootfs),
            "HostConfig": {"NetworkMode": "no-such-net"},
        })


def test_names_resolve_again_after_an_engine_crash(
    engine: EngineProcess, rootfs: Path, stackr_dirs: tuple[Path, Path]
) -> None:
    from tests.integration.engine.conftest import remove_all_containers, spawn_engine, stop_engine

    client = engine.client()
    network = f"re{secrets.token_hex(4)}_default"
    client.network_create(network)
    server = client.container_create({
        "Cmd": ["sleep", "100"], "RootfsDir": str(rootfs),
        "HostConfig": {"NetworkMode": network},
        "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": ["db"]}}},
    })
    client.container_start(server)
    address = client.container_inspect(server)["NetworkSettings"]["Networks"][network][
        "IPAddress"]
    client.close()
    engine.kill()
    second = spawn_engine(stackr_dirs[1])
    try:
        client = second.client()
        probe = client.container_create({
            "Cmd": ["sh", "-c", "ping -c 1 -W 2 db"], "RootfsDir": str(rootfs),
            "HostConfig": {"NetworkMode": network},
        })
        client.container_start(probe)
        assert client.container_wait(probe)["StatusCode"] == 0
        assert any(address in e["log"] for e in client.container_logs(probe))
        remove_all_containers(second)
        client.network_remove(network)
        client.close()
    finally:
        remove_all_containers(second)
        if any(n["Name"] == network for n in second.client().networks()):
            second.client().network_remove(network)
        stop_engine(second)
