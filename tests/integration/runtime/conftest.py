"""Helpers for runtime tests: a busybox image layer and a one-call ``run`` of a container."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackr.runtime import container
from stackr.runtime.spec import ContainerSpec, ContainerStdio, RootfsSpec
from tests.fixtures.busybox import make_busybox_rootfs


@dataclass(frozen=True)
class RunResult:
    output: str
    state: container.ContainerState


@pytest.fixture
def busybox_layer(tmp_path: Path) -> Path:
    return make_busybox_rootfs(tmp_path / "layers" / "busybox")


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@pytest.fixture
def make_spec(busybox_layer: Path) -> Callable[..., ContainerSpec]:
    def build(*args: str, **fields: Any) -> ContainerSpec:
        fields.setdefault("container_id", f"t-{uuid.uuid4().hex[:12]}")
        fields.setdefault("rootfs", RootfsSpec(layer_dirs=(str(busybox_layer),)))
        return ContainerSpec(args=args, **fields)

    return build


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Container ids to force-delete after the test, whatever happened."""
    created: list[str] = []
    yield created
    for container_id in created:
        with contextlib.suppress(Exception):
            container.delete(container_id, force=True)


@pytest.fixture
def run(make_spec: Callable[..., ContainerSpec], cleanup: list[str]) -> Callable[..., RunResult]:
    """Create, start and wait for a container; return its output (stdout+stderr) and state."""

    def run_container(*args: str, spec: ContainerSpec | None = None, **fields: Any) -> RunResult:
        spec = spec or make_spec(*args, **fields)
        read_end, write_end = os.pipe()
        cleanup.append(spec.container_id)
        try:
            container.create(spec, ContainerStdio(stdout=write_end, stderr=write_end))
        finally:
            os.close(write_end)
        try:
            container.start(spec.container_id)
            output = read_all(read_end).decode(errors="replace")
        finally:
            os.close(read_end)
        state = container.wait(spec.container_id, timeout=30)
        container.delete(spec.container_id)
        return RunResult(output, state)

    return run_container


__all__ = ["RunResult", "read_all"]


@pytest.fixture
def fork_server(stackr_dirs: tuple[Path, Path]) -> Iterator[None]:
    """Route this test's creates through a fork server, as the engine does."""
    from stackr.runtime.forkserver import ForkServer

    server = ForkServer.start(str(stackr_dirs[1]))
    container.use_fork_server(server)
    try:
        yield
    finally:
        container.use_fork_server(None)
        server.close()
