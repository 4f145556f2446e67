"""Guards for every test (pre-commit's conftest pattern).

Each test gets its own ``STACKR_ROOT`` and ``STACKR_RUN`` under ``tmp_path``, and the
default host paths are replaced by paths that cannot exist, so a test that forgets to
go through ``stackr.paths`` fails instead of touching ``/var/lib/stackr``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

FORBIDDEN = Path("/nonexistent/stackr-tests-must-use-STACKR_ROOT-and-STACKR_RUN")


@pytest.fixture(autouse=True)
def stackr_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    import stackr.paths

    root = tmp_path / "stackr-root"
    run = tmp_path / "stackr-run"
    root.mkdir()
    run.mkdir()
    monkeypatch.setenv("STACKR_ROOT", str(root))
    monkeypatch.setenv("STACKR_RUN", str(run))
    monkeypatch.delenv("STACKR_HOST", raising=False)
    monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    monkeypatch.delenv("COMPOSE_FILE", raising=False)
    monkeypatch.setattr(stackr.paths, "DEFAULT_ROOT", FORBIDDEN / "root")
    monkeypatch.setattr(stackr.paths, "DEFAULT_RUN", FORBIDDEN / "run")
    yield root, run
