"""Containers through a real engine process: lifecycle, logs, restarts, health, exec."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from stackr.client import EngineClient, EngineConflictError, EngineNotFoundError
from stackr.naming import LABEL_PROJECT, LABEL_SERVICE
from tests.integration.engine.conftest import EngineProcess
from tests.unit.engine.openapi_subset import response_schema, validate


def check(path: str, method: str, status: int, body: Any) -> None:
    schema = response_schema(path, method, status)
    assert schema is not None
    assert validate(body, schema) == [], body


def busybox(rootfs: Path, script: str, **extra: Any) -> dict[str, Any]:
    return {"Cmd": ["sh", "-c", script], "RootfsDir": str(rootfs), **extra}


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_lifecycle_exit_code_logs_labels_and_events(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    since = time.time()
    labels = {LABEL_PROJECT: "demo", LABEL_SERVICE: "web"}
    container_id = client.container_create(
        busybox(rootfs, "echo out; echo err >&2; exit 3", Labels=labels), name="demo-web-1"
    )
    created = client.container_inspect("demo-web-1")
    check("/containers/{id}/json", "GET", 200, created)
    assert created["State"]["Status"] == "created"
    with pytest.raises(EngineConflictError):
        client.container_create(busybox(rootfs, "true"), name="demo-web-1")
    client.container_start(container_id)
    assert client.container_wait(container_id) == {"StatusCode": 3, "Error": None}
    inspected = client.container_inspect(container_id[:12])
    check("/containers/{id}/json", "GET", 200, inspected)
    assert inspected["State"]["Status"] == "exited" and inspected["State"]["ExitCode"] == 3
    entries = list(client.container_logs(container_id))
    for entry in entries:
        check("/containers/{id}/logs", "GET", 200, entry)
    assert sorted((e["stream"], e["log"]) for e in entries) == [
        ("stderr", "err\n"), ("stdout", "out\n")
    ]
    assert [e["log"] for e in client.container_logs(container_id, stderr=False)] == ["out\n"]
    text = client.request("GET", f"/containers/{container_id}/logs?stderr=0&timestamps=1")
    assert text.endswith(" out\n") and text.startswith("20")
    listed = client.containers(all=True, filters={"label": [f"{LABEL_PROJECT}=demo"]})
    check("/containers/json", "GET", 200, listed)
    assert [c["Id"] for c in listed] == [container_id]
    assert listed[0]["Labels"] == labels
    assert client.containers() == []  # not running
    assert client.containers(all=True, filters={"label": [f"{LABEL_PROJECT}=other"]}) == []
    client.container_remove(container_id)
    with pytest.raises(EngineNotFoundError):
        client.container_inspect(container_id)
    events = list(client.events({"container": [container_id]}, since=since,
                                until=time.time() + 0.3))
    actions = [e["Action"] for e in events]
    assert actions == ["create", "start", "die", "destroy"]
    assert events[2]["Actor"]["Attributes"]["exitCode"] == "3"
    assert events[0]["Actor"]["Attributes"][LABEL_PROJECT] == "demo"


def test_stop_uses_the_stop_signal_then_sigkill(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    polite = client.container_create(
        busybox(rootfs, "trap 'echo bye; exit 0' TERM; sleep 100 & wait")
    )
    stubborn = client.container_create(busybox(rootfs, "trap '' TERM; sleep 100 & wait"))
    client.container_start(polite)
    client.container_start(stubborn)
    time.sleep(0.3)  # let the shells install their traps
    started = time.monotonic()
    client.container_stop(polite, timeout=10)
    assert time.monotonic() - started < 5
    assert client.container_inspect(polite)["State"]["ExitCode"] == 0
    started = time.monotonic()
    client.container_stop(stubborn, timeout=1)
    assert time.monotonic() - started >= 1
    state = client.container_inspect(stubborn)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137
    assert client.request("POST", f"/containers/{stubborn}/stop") is None  # 304


def test_remove_of_a_running_container_needs_force(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    container_id = client.container_create(busybox(rootfs, "sleep 100"))
    client.container_start(container_id)
    with pytest.raises(EngineConflictError):
        client.container_remove(container_id)
    client.container_remove(container_id, force=True)
    assert client.containers(all=True) == []


def test_on_failure_restarts_exactly_n_times(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    since = time.time()
    container_id = client.container_create(busybox(
        rootfs, "echo run; exit 2",
        HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
    ))
    client.container_start(container_id)
    assert client.container_wait(container_id)["StatusCode"] == 2
    inspected = client.container_inspect(container_id)
    assert inspected["RestartCount"] == 2
    assert inspected["State"]["Status"] == "exited"
    time.sleep(0.5)  # a third restart would come within the back-off of 0.4 s
    assert client.container_inspect(container_id)["RestartCount"] == 2
    assert [e["log"] for e in client.container_logs(container_id)] == ["run\n"] * 3
    starts = [e for e in client.events({"container": [container_id], "event": ["start"]},
                                       since=since, until=time.time() + 0.2)]
    assert len(starts) == 3


def test_always_restarts_until_stopped(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    container_id = client.container_create(busybox(
        rootfs, "exit 0", HostConfig={"RestartPolicy": {"Name": "always"}},
    ))
    client.container_start(container_id)
    wait_for(lambda: client.container_inspect(container_id)["RestartCount"] >= 2)
    client.container_stop(container_id, timeout=1)
    count = client.container_inspect(container_id)["RestartCount"]
    time.sleep(0.5)
    after = client.container_inspect(container_id)
    assert after["RestartCount"] == count and after["State"]["Status"] == "exited"


def test_logs_follow_streams_until_the_container_exits(engine: EngineProcess,
                                                       rootfs: Path) -> None:
    client = engine.client()
    container_id = client.container_create(
        busybox(rootfs, "for i in 1 2 3; do echo line $i; sleep 0.3; done")
    )
    client.container_start(container_id)
    received: list[str] = []
    follower = EngineClient(f"unix://{engine.socket_path}", autostart=False)
    for entry in follower.container_logs(container_id, follow=True):
        received.append(entry["log"])
    assert received == ["line 1\n", "line 2\n", "line 3\n"]
    assert client.container_inspect(container_id)["State"]["Status"] == "exited"
    assert [e["log"] for e in client.container_logs(container_id, tail=1)] == ["line 3\n"]


def test_healthcheck_goes_from_starting_to_healthy_to_unhealthy(engine: EngineProcess,
                                                                rootfs: Path) -> None:
    client = engine.client()
    since = time.time()
    container_id = client.container_create(busybox(
        rootfs, "touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 100",
        Healthcheck={"Test": ["CMD-SHELL", "test -f /tmp/ok"], "Interval": 200_000_000,
                     "StartInterval": 200_000_000, "StartPeriod": 1_000_000_000,
                     "Timeout": 2_000_000_000, "Retries": 2},
    ))
    client.container_start(container_id)
    first = client.container_inspect(container_id)["State"]["Health"]["Status"]
    assert first in ("starting", "healthy")

    def health() -> str:
        inspected = client.container_inspect(container_id)
        check("/containers/{id}/json", "GET", 200, inspected)
        status: str = inspected["State"]["Health"]["Status"]
        return status

    wait_for(lambda: health() == "healthy")
    wait_for(lambda: health() == "unhealthy")
    log = client.container_inspect(container_id)["State"]["Health"]["Log"]
    assert log[-1]["ExitCode"] == 1
    events = client.events({"container": [container_id], "event": ["health_status"]},
                           since=since, until=time.time() + 0.2)
    assert [e["Action"] for e in events] == ["health_status: healthy",
                                            "health_status: unhealthy"]
    client.container_remove(container_id, force=True)


def test_exec_top_and_stats(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    container_id = client.container_create(busybox(rootfs, "sleep 100",
                                                   Env=["GREETING=hello"]))
    client.container_start(container_id)
    exec_id = client.exec_create(container_id, {"Cmd": ["sh", "-c",
                                                        "echo $GREETING $(hostname); exit 4"]})
    frames = list(client.exec_start(exec_id))
    output = "".join(f.get("data", "") for f in frames)
    assert output == f"hello {container_id[:12]}\n"
    assert frames[-1] == {"ExitCode": 4}
    inspected = client.exec_inspect(exec_id)
    check("/exec/{id}/json", "GET", 200, inspected)
    assert inspected["ExitCode"] == 4 and inspected["Running"] is False
    tty_exec = client.exec_create(container_id, {
        "Cmd": ["sh", "-c", "test -t 0 && test -t 1 && echo on a tty"], "Tty": True})
    frames = list(client.exec_start(tty_exec))
    assert "".join(f.get("data", "") for f in frames) == "on a tty\r\n"  # the pty's ONLCR
    assert frames[-1] == {"ExitCode": 0}
    plain = client.exec_create(container_id, {"Cmd": ["sh", "-c", "test -t 1 || echo no tty"]})
    assert "".join(f.get("data", "") for f in client.exec_start(plain)) == "no tty\n"
    top = client.container_top(container_id)
    check("/containers/{id}/top", "GET", 200, top)
    assert any("sleep 100" in row[-1] for row in top["Processes"])
    stats = client.container_stats(container_id)
    check("/containers/{id}/stats", "GET", 200, stats)
    assert stats["pids_stats"]["current"] >= 1
    samples = client.stream_json("GET", f"/containers/{container_id}/stats")
    first, second = next(samples), next(samples)
    assert first["read"] < second["read"]
    samples.close()  # type: ignore[attr-defined]
    client.container_remove(container_id, force=True)


def test_parallel_creates_and_log_followers(engine: EngineProcess, rootfs: Path) -> None:
    errors: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()

    def make(index: int) -> None:
        try:
            client = EngineClient(f"unix://{engine.socket_path}", autostart=False)
            container_id = client.container_create(busybox(rootfs, f"echo {index}"))
            with lock:
                ids.append(container_id)
            client.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(ids) == 20
    client = engine.client()
    followers = []
    for container_id in ids[:5]:
        client.container_start(container_id)
        followers.append(EngineClient(f"unix://{engine.socket_path}", autostart=False)
                         .container_logs(container_id, follow=True))
    for container_id, follower in zip(ids[:5], followers, strict=True):
        assert len(list(follower)) == 1, container_id
    assert client.ping()


def test_an_oom_kill_is_recorded(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    limit = 16 * 1024 * 1024
    container_id = client.container_create(busybox(
        rootfs, "x=$(head -c 200000000 /dev/zero | tr '\\0' x); echo survived",
        HostConfig={"Memory": limit, "MemorySwap": limit},
    ))
    client.container_start(container_id)
    client.container_wait(container_id)
    state = client.container_inspect(container_id)["State"]
    assert state["OOMKilled"] is True, state
    assert state["ExitCode"] == 137


def _demux(data: bytes) -> bytes:
    """Docker's raw-stream frames: [stream, 0, 0, 0, size (4 bytes, big endian)] + data."""
    import struct

    output = b""
    while data:
        _, size = struct.unpack(">BxxxL", data[:8])
        output += data[8 : 8 + size]
        data = data[8 + size :]
    return output


def _read_all(session: Any) -> bytes:
    data = b""
    while chunk := session.recv():
        data += chunk
    return data


def test_exec_attach_with_stdin_with_and_without_tty(engine: EngineProcess,
                                                     rootfs: Path) -> None:
    client = engine.client()
    container_id = client.container_create(busybox(rootfs, "sleep 100"))
    client.container_start(container_id)
    plain = client.exec_create(container_id, {"Cmd": ["sh", "-c", "cat; exit 5"],
                                              "AttachStdin": True})
    session = client.exec_attach(plain)
    session.send(b"through stdin\n")
    session.close_input()
    assert _demux(_read_all(session)) == b"through stdin\n"
    session.close()
    wait_for(lambda: client.exec_inspect(plain)["ExitCode"] == 5)
    tty = client.exec_create(container_id, {"Cmd": ["sh"], "AttachStdin": True, "Tty": True})
    session = client.exec_attach(tty)
    session.send(b"echo $((6*7)); exit 3\n")
    output = _read_all(session)
    session.close()
    assert b"42\r\n" in output
    wait_for(lambda: client.exec_inspect(tty)["ExitCode"] == 3)
    with pytest.raises(EngineConflictError):
        client.exec_attach(tty)  # already ran
    client.container_remove(container_id, force=True)


def test_logs_rotate_at_the_size_cap(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    container_id = client.container_create(busybox(
        rootfs, "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done",
        HostConfig={"LogConfig": {"Type": "json-file",
                                  "Config": {"max-size": "4k", "max-file": "2"}}},
    ))
    client.container_start(container_id)
    client.container_wait(container_id)
    log_path = Path(client.container_inspect(container_id)["LogPath"])
    files = sorted(p.name for p in log_path.parent.iterdir())
    assert files == ["container.log", "container.log.1"]
    assert all(p.stat().st_size <= 4096 for p in log_path.parent.iterdir())
    lines = [e["log"] for e in client.container_logs(container_id)]
    assert lines[-1] == "line 199\n" and "line 0\n" not in lines
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], 200))


def test_prune_removes_stopped_containers_only(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    labels = {LABEL_PROJECT: "prune"}
    done = client.container_create(busybox(rootfs, "true", Labels=labels))
    client.container_start(done)
    client.container_wait(done)
    never_started = client.container_create(busybox(rootfs, "true", Labels=labels))
    running = client.container_create(busybox(rootfs, "sleep 100", Labels=labels))
    client.container_start(running)
    other = client.container_create(busybox(rootfs, "true"))
    answer = client.request("POST", "/containers/prune?filters="
                                    f'{{"label":["{LABEL_PROJECT}=prune"]}}')
    check("/containers/prune", "POST", 200, answer)
    assert sorted(answer["ContainersDeleted"]) == sorted([done, never_started])
    assert sorted(c["Id"] for c in client.containers(all=True)) == sorted([running, other])


def test_a_container_with_a_terminal_logs_what_it_shows(engine: EngineProcess,
                                                        rootfs: Path) -> None:  # fmt: skip
    client = engine.client()
    container_id = client.container_create(
        busybox(rootfs, "tty; test -t 0 && test -t 1 && test -t 2 && echo all three", Tty=True)
    )
    client.container_start(container_id)
    assert client.container_wait(container_id)["StatusCode"] == 0
    entries = list(client.container_logs(container_id))
    # One stream, as a terminal shows it: CR LF line ends, all of it logged as stdout.
    assert {e["stream"] for e in entries} == {"stdout"}
    assert "".join(e["log"] for e in entries) == "/dev/pts/0\r\nall three\r\n"
    client.container_remove(container_id)


def test_a_terminal_or_an_open_stdin_keeps_a_shell_running(engine: EngineProcess,
                                                           rootfs: Path) -> None:  # fmt: skip
    # compose's `tty: true` / `stdin_open: true` with `command: sh`: the shell waits for
    # input instead of exiting at once at EOF, as with Docker.
    client = engine.client()
    ids = [
        client.container_create({"Cmd": ["sh"], "RootfsDir": str(rootfs), **extra})
        for extra in ({"Tty": True}, {"OpenStdin": True}, {"Tty": True, "OpenStdin": True})
    ]
    for container_id in ids:
        client.container_start(container_id)
    time.sleep(0.5)  # were they to see EOF, they would have exited by now
    for container_id in ids:
        assert client.container_inspect(container_id)["State"]["Status"] == "running"
        client.container_stop(container_id, timeout=0)
        client.container_remove(container_id)


def test_attach_to_an_open_stdin_and_to_a_terminal(engine: EngineProcess, rootfs: Path) -> None:
    client = engine.client()
    # OpenStdin (a service's stdin_open): input reaches the command; framed output back
    plain = client.container_create(busybox(rootfs, "read line; echo got $line >&2",
                                            OpenStdin=True))
    session = client.container_attach(plain)  # before start: nothing is missed
    client.container_start(plain)
    session.send(b"hello\n")
    received = b""
    while chunk := session.recv():
        received += chunk
    session.close()
    assert received == struct.pack(">BxxxL", 2, 10) + b"got hello\n"  # stream 2: stderr
    assert client.container_wait(plain)["StatusCode"] == 0
    # Tty: raw bytes, and the terminal takes the size it is given
    terminal = client.container_create(busybox(rootfs, "read line; stty size; echo $line",
                                               Tty=True, OpenStdin=True))
    session = client.container_attach(terminal)
    client.container_start(terminal)
    client.container_resize(terminal, 40, 120)
    session.send(b"typed\r")
    received = b""
    while chunk := session.recv():
        received += chunk
    session.close()
    # the terminal echoes what was typed, then the command's output
    assert received.split() == [b"typed", b"40", b"120", b"typed"]
    for container_id in (plain, terminal):
        client.container_remove(container_id)
