"""The HTTP server and the system/volume/event endpoints, driven through the client, with
every answer validated against schemas/engine-api.yaml."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest

from stackr.client import EngineConflictError, EngineError, EngineNotFoundError
from stackr.naming import LABEL_PROJECT
from tests.unit.engine.conftest import RunningServer
from tests.unit.engine.openapi_subset import response_schema, validate


def raw_request(server: RunningServer, data: bytes, timeout: float = 5) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(server.socket_path))
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes: errors end the connection
            answer += chunk
        return answer


def check(path: str, method: str, status: int, body: Any) -> None:
    schema = response_schema(path, method, status)
    assert schema is not None
    assert validate(body, schema) == []


def test_ping_version_info_answer_and_validate(server: RunningServer) -> None:
    assert server.client.ping()
    check("/version", "GET", 200, server.client.version())
    info = server.client.info()
    check("/info", "GET", 200, info)
    assert info["Containers"] == 0 and info["Volumes"] == 0
    assert info["CgroupVersion"] in ("1", "2")


def test_socket_is_private(server: RunningServer) -> None:
    # The daemon binds under umask 0177; the in-process fixture checks the server works,
    # the integration test checks the mode of the real engine's socket.
    assert server.socket_path.exists()


def test_version_prefix_is_accepted(server: RunningServer) -> None:
    assert server.client.request("GET", "/v1.43/_ping") == "OK"


def test_unknown_path_is_404_and_wrong_method_405(server: RunningServer) -> None:
    with pytest.raises(EngineNotFoundError):
        server.client.request("GET", "/nothing/here")
    with pytest.raises(EngineError) as caught:
        server.client.request("DELETE", "/_ping")
    assert caught.value.status == 405


def test_volume_lifecycle_with_labels_and_filters(server: RunningServer) -> None:
    client = server.client
    created = client.volume_create("data-1", {LABEL_PROJECT: "demo"})
    check("/volumes/create", "POST", 201, created)
    assert created["Labels"] == {LABEL_PROJECT: "demo"}
    assert client.volume_create("data-1", {LABEL_PROJECT: "demo"}) == created  # idempotent
    with pytest.raises(EngineConflictError):
        client.volume_create("data-1", {LABEL_PROJECT: "other"})
    client.volume_create("data-2")
    listed = client.request("GET", "/volumes")
    check("/volumes", "GET", 200, listed)
    assert [v["Name"] for v in listed["Volumes"]] == ["data-1", "data-2"]
    mine = client.volumes({"label": [f"{LABEL_PROJECT}=demo"]})
    assert [v["Name"] for v in mine] == ["data-1"]
    check("/volumes/{name}", "GET", 200, client.volume_inspect("data-1"))
    client.volume_remove("data-1")
    with pytest.raises(EngineNotFoundError):
        client.volume_inspect("data-1")
    client.volume_remove("data-1", force=True)  # force: absent is fine
    assert server.client.info()["Volumes"] == 1


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "x" * 200, "a b"])
def test_volume_names_that_could_escape_are_refused(server: RunningServer, name: str) -> None:
    with pytest.raises(EngineError) as caught:
        server.client.volume_create(name)
    assert caught.value.status in (400, 404)


def test_malformed_and_wrongly_typed_bodies_are_400(server: RunningServer) -> None:
    answer = raw_request(server, b"POST /volumes/create HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 5\r\nConnection: close\r\n\r\n{nope")
    assert answer.startswith(b"HTTP/1.1 400")
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    check("/volumes/create", "POST", 400, body)
    with pytest.raises(EngineError) as caught:
        server.client.request("POST", "/volumes/create", {"Name": 5})
    assert caught.value.status == 400
    with pytest.raises(EngineError) as caught:
        server.client.request("POST", "/volumes/create", {"Unknown": 1})
    assert caught.value.status == 400 and "Unknown" in caught.value.message
    with pytest.raises(EngineError) as caught:
        server.client.request("POST", "/volumes/create", [1, 2])
    assert caught.value.status == 400


def test_oversized_body_is_413(server: RunningServer) -> None:
    answer = raw_request(server, b"POST /volumes/create HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 999999999\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_slow_client_does_not_block_others(server: RunningServer) -> None:
    with socket.socket(socket.AF_UNIX) as slow:
        slow.connect(str(server.socket_path))
        slow.sendall(b"POST /volumes/create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        assert server.client.ping()
        assert time.monotonic() - started < 2


def test_many_parallel_clients(server: RunningServer) -> None:
    errors: list[BaseException] = []

    def create(index: int) -> None:
        try:
            from stackr.client import EngineClient

            client = EngineClient(f"unix://{server.socket_path}", autostart=False)
            client.volume_create(f"parallel-{index}")
            client.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(server.client.volumes()) == 20


def test_events_stream_volume_events_with_filters(server: RunningServer) -> None:
    since = time.time()
    server.client.volume_create("ev-1", {"k": "v"})
    server.client.volume_remove("ev-1")
    stream = server.client.events({"type": ["volume"]}, since=since, until=time.time() + 0.5)
    events = list(stream)
    for event in events:
        check("/events", "GET", 200, event)
    assert [(e["Action"], e["Actor"]["ID"]) for e in events] == [
        ("create", "ev-1"), ("destroy", "ev-1")
    ]


def test_events_follow_live_and_end_when_client_leaves(server: RunningServer) -> None:
    stream = server.client.events({"event": ["create"]})
    received: list[dict[str, Any]] = []

    def read_one() -> None:
        received.append(next(stream))

    reader = threading.Thread(target=read_one)
    reader.start()
    time.sleep(0.1)  # let the subscription register before the event is published
    server.client.volume_create("live-1")
    reader.join(5)
    assert received and received[0]["Actor"]["ID"] == "live-1"
    stream.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while server.engine.events._subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.engine.events._subscribers == []


def test_unknown_container_is_404_and_validates(server: RunningServer) -> None:
    with pytest.raises(EngineNotFoundError) as caught:
        server.client.container_inspect("nope")
    check("/containers/{id}/json", "GET", 404, {"message": caught.value.message})
    assert server.client.containers(all=True) == []


@pytest.mark.parametrize("body,fragment", [
    ({}, "no command"),
    ({"Cmd": ["true"]}, "give Image"),
    ({"Cmd": ["true"], "RootfsDir": "/x", "Bogus": 1}, "Bogus"),
    ({"Cmd": "true", "RootfsDir": "/x"}, "Cmd"),
    ({"Cmd": ["true"], "RootfsDir": "/x", "HostConfig": {"Memory": "lots"}}, "Memory"),
    ({"Cmd": ["true"], "RootfsDir": "/x", "HostConfig": {"RestartPolicy": {"Name": "x"}}},
     "restart policy"),
    ({"Cmd": ["true"], "RootfsDir": "relative"}, "absolute"),
    ({"Cmd": ["true"], "RootfsDir": "/x", "LayerDirs": ["/y"]}, "at most one"),
])
def test_bad_container_configs_are_400(server: RunningServer, body: dict[str, Any],
                                       fragment: str) -> None:
    with pytest.raises(EngineError) as caught:
        server.client.container_create(body)
    assert caught.value.status == 400
    assert fragment in caught.value.message


def test_create_from_an_unknown_image_is_404(server: RunningServer) -> None:
    with pytest.raises(EngineNotFoundError) as caught:
        server.client.container_create({"Image": "nothing-here:1"})
    assert "no such image" in caught.value.message
    assert server.client.request("GET", "/images/json") == []
    with pytest.raises(EngineNotFoundError):
        server.client.request("GET", "/images/library/nothing:1/json")


def test_volume_prune_removes_only_unused_matching_volumes(server: RunningServer) -> None:
    client = server.client
    client.volume_create("keep", {"k": "other"})
    client.volume_create("drop-1", {"k": "v"})
    client.volume_create("drop-2", {"k": "v"})
    answer = client.request("POST", '/volumes/prune?filters={"label":["k=v"]}')
    check("/volumes/prune", "POST", 200, answer)
    assert sorted(answer["VolumesDeleted"]) == ["drop-1", "drop-2"]
    assert [v["Name"] for v in client.volumes()] == ["keep"]
    answer = client.request("POST", "/containers/prune")
    check("/containers/prune", "POST", 200, answer)
    assert answer["ContainersDeleted"] == []
    assert client.containers_prune() == [] and client.volumes_prune() == ["keep"]
