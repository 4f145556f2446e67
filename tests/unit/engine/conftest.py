"""An in-process engine server on a temporary socket (no root: system, volumes, events)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackr.client import EngineClient
from stackr.engine.app import build_router
from stackr.engine.server import EngineServer
from stackr.engine.state import Engine


@dataclass
class RunningServer:
    engine: Engine
    socket_path: Path
    client: EngineClient


@pytest.fixture
def server(stackr_dirs: tuple[Path, Path]) -> Iterator[RunningServer]:
    _, run = stackr_dirs
    socket_path = run / "test-engine.sock"
    engine = Engine()
    http_server = EngineServer(str(socket_path), engine, build_router())
    thread = threading.Thread(target=http_server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    client = EngineClient(f"unix://{socket_path}", autostart=False, timeout=10)
    try:
        yield RunningServer(engine, socket_path, client)
    finally:
        client.close()
        engine.stop()
        http_server.shutdown()
        http_server.server_close()
        thread.join(5)
