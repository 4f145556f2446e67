"""Networks through the engine: containers find each other by alias, ports are published."""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from stackr.client import EngineConflictError, EngineNotFoundError
from stackr.naming import LABEL_PROJECT
from stackr.network.attach import host_ifname
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
    assert not Path("/sys/class/net", host_ifname(server, network)).exists()


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


def test_a_network_goes_while_a_stopped_container_is_on_it(
    engine: EngineProcess, rootfs: Path
) -> None:
    # As in Docker: a stopped container has no endpoint, so its network can go; starting
    # it again then fails, naming the network. A running one keeps the network (409).
    client = engine.client()
    network = f"it{secrets.token_hex(4)}_default"
    client.request("POST", "/networks/create", {"Name": network, "Labels": {}})
    bridge = client.request("GET", f"/networks/{network}")["Options"][
        "com.docker.network.bridge.name"]
    body = {"Cmd": ["sleep", "60"], "RootfsDir": str(rootfs),
            "HostConfig": {"NetworkMode": network}}
    host_port = _free_port()
    published = {"HostConfig": {"NetworkMode": network, "PortBindings": {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(host_port)}]}}}
    running = client.container_create(body, name=f"{network}-running")
    stopped = client.container_create({**body, **published}, name=f"{network}-stopped")
    created = client.container_create(body, name=f"{network}-created")  # never started
    try:
        for container in (running, stopped):
            client.container_start(container)
        client.container_stop(stopped, timeout=1)
        with pytest.raises(EngineConflictError, match=f"container {running} is running"):
            client.request("DELETE", f"/networks/{network}")
        # The refusal took nothing from the stopped one: still on the network.
        assert stopped in client.request("GET", f"/networks/{network}")["Containers"]
        client.container_remove(running, force=True)
        client.request("DELETE", f"/networks/{network}")
        assert not Path("/sys/class/net", bridge).exists()
        assert not Path("/sys/class/net", host_ifname(stopped, network)).exists()
        for container in (stopped, created):
            with pytest.raises(EngineNotFoundError, match=network):
                client.container_start(container)
        with socket.socket() as taker:  # the stopped one's published port went too
            taker.bind(("127.0.0.1", host_port))
    finally:
        for container in client.containers(all=True):
            client.container_remove(container["Id"], force=True)
        with contextlib.suppress(EngineNotFoundError):
            client.request("DELETE", f"/networks/{network}")
