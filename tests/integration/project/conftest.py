"""A real engine on the test's STACKR_ROOT/STACKR_RUN, a busybox image in its store, and
``stackr`` run as a subprocess (what a user runs), for the project verbs' tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.busybox import make_busybox_rootfs
from tests.integration.engine.conftest import (
    EngineProcess,
    remove_all_containers,
    spawn_engine,
    stop_engine,
)

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Project:
    name: str
    directory: Path
    engine: EngineProcess
    seen_ids: set[str] = field(default_factory=set)  # every container id ps showed

    @property
    def file(self) -> Path:
        return self.directory / "compose.yaml"

    def write(self, text: str) -> None:  # the test's own stack, named after the project
        self.file.write_text(f"name: {self.name}\n" + text)

    def stackr(self, *args: str, check: bool = True, timeout: float = 120,
               env: dict[str, str] | None = None, input: str = ""
               ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "stackr", *args], cwd=self.directory, env=environment,
            capture_output=True, text=True, timeout=timeout, input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"stackr {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def ps(self) -> dict[str, dict[str, Any]]:
        rows = json.loads(self.stackr("-p", self.name, "ps", "-a", "--format", "json").stdout)
        self.seen_ids.update(row["ID"] for row in rows)
        return {row["Name"]: row for row in rows}

    def pids(self) -> dict[str, int]:
        client = self.engine.client()
        try:
            return {name: client.container_inspect(row["ID"])["State"]["Pid"]
                    for name, row in self.ps().items()}
        finally:
            client.close()


@pytest.fixture
def project(stackr_dirs: tuple[Path, Path], tmp_path: Path) -> Iterator[Project]:
    from stackr.images.store import ImageStore

    rootfs = make_busybox_rootfs(tmp_path / "busybox-rootfs")
    ImageStore().import_rootfs(rootfs, "busybox:latest", cmd=["sh"])
    engine = spawn_engine(stackr_dirs[1])
    directory = tmp_path / "stack"
    directory.mkdir()
    made = Project(f"it{uuid.uuid4().hex[:8]}", directory, engine)
    try:
        yield made
    finally:
        engine = made.engine  # a test may have replaced it (engine crash tests)
        if engine.process.poll() is None:
            made.stackr("-p", made.name, "down", "-v", "-t", "1", check=False)
            remove_all_containers(engine)
        stop_engine(engine)
