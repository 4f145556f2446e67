"""A real engine process on the test's STACKR_ROOT/STACKR_RUN, stopped by pid afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackr.client import EngineClient
from stackr.client.autostart import ping_socket
from tests.fixtures.busybox import make_busybox_rootfs

REPO = Path(__file__).resolve().parents[3]


@dataclass
class EngineProcess:
    process: subprocess.Popen[bytes]
    socket_path: Path
    log_path: Path

    def client(self) -> EngineClient:
        return EngineClient(f"unix://{self.socket_path}", autostart=False, timeout=60)

    def kill(self) -> None:
        """SIGKILL: what a crash looks like. Containers must survive it."""
        self.process.kill()
        self.process.wait(10)


def spawn_engine(run: Path) -> EngineProcess:
    log_path = run / f"engine-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "stackr", "engine"], env=env,
                                   stdout=log, stderr=log, cwd=REPO)
    socket_path = run / "engine.sock"
    deadline = time.monotonic() + 20
    while not ping_socket(str(socket_path)):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"engine did not start: {log_path.read_text()}")
        time.sleep(0.01)
    return EngineProcess(process, socket_path, log_path)


def stop_engine(engine: EngineProcess) -> None:
    if engine.process.poll() is None:
        engine.process.send_signal(signal.SIGTERM)
        try:
            engine.process.wait(20)
        except subprocess.TimeoutExpired:
            engine.process.kill()
            engine.process.wait(10)


def remove_all_containers(engine: EngineProcess) -> None:
    client = engine.client()
    for container in client.containers(all=True):
        client.container_remove(container["Id"], force=True)
    client.close()


@pytest.fixture
def engine(stackr_dirs: tuple[Path, Path]) -> Iterator[EngineProcess]:
    running = spawn_engine(stackr_dirs[1])
    holder = {"engine": running}
    try:
        yield running
    finally:
        current = holder["engine"]
        if current.process.poll() is None:
            remove_all_containers(current)
        stop_engine(current)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_busybox_rootfs(tmp_path / "busybox-rootfs")
