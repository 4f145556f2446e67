"""The engine as a process: socket, pid file, stop, auto-start, re-adoption."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from stackr.engine.daemon import pid_path
from tests.integration.engine.conftest import (
    REPO,
    EngineProcess,
    remove_all_containers,
    spawn_engine,
    stop_engine,
)
from tests.unit.engine.openapi_subset import response_schema, validate


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stackr", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)


def test_socket_is_0600_and_pid_file_names_the_engine(engine: EngineProcess) -> None:
    mode = stat.S_IMODE(os.stat(engine.socket_path).st_mode)
    assert mode == 0o600
    assert pid_path().read_text().split()[0] == str(engine.process.pid)
    info = engine.client().info()
    assert validate(info, response_schema("/info", "GET", 200) or {}) == []
    assert info["EnginePid"] == engine.process.pid


def test_a_second_engine_refuses_to_start(engine: EngineProcess) -> None:
    result = _cli("engine")
    assert result.returncode == 4
    assert "already serves" in result.stderr


def test_engine_stop_command(engine: EngineProcess) -> None:
    result = _cli("engine", "stop")
    assert result.returncode == 0, result.stderr
    assert engine.process.wait(10) == 0
    assert not engine.socket_path.exists()
    assert _cli("engine", "stop").stdout.strip() == "no engine was running"


def test_info_auto_starts_the_engine(stackr_dirs: tuple[Path, Path]) -> None:
    result = _cli("info")
    try:
        assert result.returncode == 0, result.stderr
        assert "Cgroup Version" in result.stdout
        assert (stackr_dirs[1] / "engine.sock").exists()
    finally:
        assert _cli("engine", "stop").returncode == 0
    assert not (stackr_dirs[1] / "engine.sock").exists()


def test_containers_survive_an_engine_crash_and_are_readopted(
    engine: EngineProcess, rootfs: Path, stackr_dirs: tuple[Path, Path]
) -> None:
    client = engine.client()
    container_id = client.container_create({
        "Cmd": ["sh", "-c", "echo before; sleep 1.5; echo after; exit 7"],
        "RootfsDir": str(rootfs),
    }, name="survivor")
    client.container_start(container_id)
    pid = client.container_inspect(container_id)["State"]["Pid"]
    assert pid > 0
    client.close()
    engine.kill()
    time.sleep(0.2)
    assert os.path.exists(f"/proc/{pid}"), "the container died with the engine"
    second = spawn_engine(stackr_dirs[1])
    try:
        client = second.client()
        state = client.container_inspect("survivor")["State"]
        assert state["Status"] == "running" and state["Pid"] == pid
        assert client.container_wait("survivor")["StatusCode"] == 7
        lines = [entry["log"] for entry in client.container_logs("survivor")]
        assert lines == ["before\n", "after\n"]
        client.close()
    finally:
        remove_all_containers(second)
        stop_engine(second)


def test_an_exit_while_no_engine_runs_is_recorded(
    engine: EngineProcess, rootfs: Path, stackr_dirs: tuple[Path, Path]
) -> None:
    client = engine.client()
    container_id = client.container_create({
        "Cmd": ["sh", "-c", "sleep 0.5; exit 9"], "RootfsDir": str(rootfs),
    })
    client.container_start(container_id)
    pid = client.container_inspect(container_id)["State"]["Pid"]
    client.close()
    engine.kill()
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = spawn_engine(stackr_dirs[1])
    try:
        client = second.client()
        state = client.container_inspect(container_id)["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 9
        client.close()
    finally:
        remove_all_containers(second)
        stop_engine(second)
