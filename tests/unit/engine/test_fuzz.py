"""API fuzzing: whatever a client sends, the answer is a JSON 4xx (never a 500) and the
engine keeps serving."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackr.client import EngineClient, EngineError
from stackr.client.hosts import SshHost
from stackr.client.transport import SshConnection
from tests.unit.engine.conftest import RunningServer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
config_keys = st.sampled_from(["Cmd", "Entrypoint", "Env", "Labels", "HostConfig", "RootfsDir",
                               "Image", "Healthcheck", "StopSignal", "User", "LayerDirs"])
container_bodies = st.dictionaries(config_keys, json_values, max_size=6)
volume_bodies = st.dictionaries(st.sampled_from(["Name", "Labels", "Driver", "DriverOpts"]),
                                json_values, max_size=4)
path_parts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1,
                     max_size=30)

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _status(client: EngineClient, method: str, path: str, body: Any) -> int:
    try:
        client.request(method, path, body)
    except EngineError as error:
        assert error.message, "an error answer carries a message"
        return error.status
    return 200


@FUZZ
@given(body=container_bodies)
def test_container_create_bodies(server: RunningServer, body: dict[str, Any]) -> None:
    status = _status(server.client, "POST", "/containers/create", body)
    assert status < 500 or status == 200
    assert server.client.ping()


@FUZZ
@given(body=volume_bodies)
def test_volume_create_bodies(server: RunningServer, body: dict[str, Any]) -> None:
    status = _status(server.client, "POST", "/volumes/create", body)
    assert status in (201, 200, 400, 404, 409)
    for volume in server.client.volumes():
        assert "/" not in volume["Name"] and ".." not in volume["Name"]


@FUZZ
@given(name=path_parts, verb=st.sampled_from(["json", "start", "stop", "logs", "wait", "top"]))
def test_ids_in_paths(server: RunningServer, name: str, verb: str) -> None:
    from urllib.parse import quote

    method = "GET" if verb in ("json", "logs", "top") else "POST"
    path = f"/containers/{quote(name, safe='')}/{verb}"
    status = _status(server.client, method, path, None)
    assert status in (400, 404)
    assert _status(server.client, "GET", f"/volumes/{quote(name, safe='')}", None) in (400, 404)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_garbage_requests(server: RunningServer, raw: bytes) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(server.socket_path))
        try:
            sock.sendall(raw + b"\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            answer = sock.recv(65536)
        except OSError:
            answer = b""
    if answer.startswith(b"HTTP/1.1 5"):
        raise AssertionError(answer)
    assert server.client.ping()


def test_ssh_transport_through_dial_stdio(server: RunningServer,
                                          monkeypatch: Any) -> None:
    """ssh:// runs ``stackr engine dial-stdio`` on the far side; here the "ssh" command
    is that same bridge run locally, so the whole path except ssh itself is exercised."""
    repo = Path(__file__).resolve().parents[3]
    bridge = [sys.executable, "-m", "stackr", "engine", "dial-stdio",
              "--socket", str(server.socket_path)]
    monkeypatch.setattr(SshHost, "ssh_command", lambda self: bridge)
    monkeypatch.setenv("PYTHONPATH", str(repo))
    client = EngineClient(SshHost("example"), autostart=False)
    try:
        assert client.ping()
        assert client.volume_create("over-ssh")["Name"] == "over-ssh"
        assert [v["Name"] for v in client.volumes()] == ["over-ssh"]
        connection = client._connection()
        assert isinstance(connection, SshConnection) and connection.process is not None
        bridge_process = connection.process
    finally:
        client.close()
    assert bridge_process.poll() is not None, "closing the client ends the bridge"
