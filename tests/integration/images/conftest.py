"""What the image tests that go through the CLI share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.engine.conftest import EngineProcess, spawn_engine, stop_engine


@pytest.fixture
def engine(stackr_dirs: tuple[Path, Path]) -> Iterator[EngineProcess]:
    """The engine the verbs reach through the default socket (no autostart in tests)."""
    running = spawn_engine(stackr_dirs[1])
    try:
        yield running
    finally:
        stop_engine(running)
