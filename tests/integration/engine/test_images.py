"""Images through the engine: load an archive over the API, run a container from it."""

from __future__ import annotations

import http.client
import socket
from pathlib import Path

import pytest

from stackr.client import EngineConflictError
from tests.fixtures.images import busybox_image, write_docker_save_legacy
from tests.integration.engine.conftest import EngineProcess
from tests.unit.engine.openapi_subset import response_schema, validate


def test_load_inspect_run_and_remove_an_image(engine: EngineProcess, tmp_path: Path) -> None:
    image = busybox_image(env=("PATH=/bin", "FROM_IMAGE=yes"))
    archive = write_docker_save_legacy(tmp_path / "busybox.tar", [(image, ["demo/bb:1"])])
    client = engine.client()
    lines = [line["stream"] for line in client.image_load(str(archive))]
    assert lines == ["Loaded image: docker.io/demo/bb:1\n"]
    listed = client.request("GET", "/images/json")
    schema = response_schema("/images/json", "GET", 200)
    assert schema is not None and validate(listed, schema) == []
    assert [i["Id"] for i in listed] == [image.image_id]
    inspected = client.image_inspect("demo/bb:1")
    schema = response_schema("/images/{name}/json", "GET", 200)
    assert schema is not None and validate(inspected, schema) == []
    container_id = client.container_create({
        "Image": "demo/bb:1", "Cmd": ["sh", "-c", "echo $FROM_IMAGE $EXTRA; cat /etc/added"],
        "Env": ["EXTRA=1"],
    })
    config = client.container_inspect(container_id)["Config"]
    assert config["ImageId"] == image.image_id
    client.container_start(container_id)
    assert client.container_wait(container_id)["StatusCode"] == 0
    assert [e["log"] for e in client.container_logs(container_id)] == [
        "yes 1\n", "from the top layer\n"
    ]
    with pytest.raises(EngineConflictError):
        client.image_remove("demo/bb:1")  # a container uses it
    client.container_remove(container_id)
    removed = client.image_remove("demo/bb:1")
    assert {"Deleted": image.image_id} in removed
    assert client.request("GET", "/images/json") == []
    pruned = client.request("POST", "/images/prune")
    schema = response_schema("/images/prune", "POST", 200)
    assert schema is not None and validate(pruned, schema) == []


def test_a_bad_archive_is_400(engine: EngineProcess, tmp_path: Path) -> None:
    archive = tmp_path / "junk.tar"
    archive.write_bytes(b"not a tar at all" * 100)
    connection = http.client.HTTPConnection("localhost")
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(engine.socket_path))
    connection.sock = sock
    connection.request("POST", "/images/load", body=archive.read_bytes())
    response = connection.getresponse()
    assert response.status == 400
    connection.close()
    assert engine.client().ping()
