"""``up`` from the settled record (the compiled stack), and every change that must not.

The record is only a shortcut: each test proves that after a change of an input
(environment, file, ``.env``, image) ``up`` takes the full path and converges, and that
with no input changed it does not load the stack at all (pydantic is never imported)
yet still converges: a no-op, a stopped container started, the stack after ``down``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.busybox import make_busybox_rootfs
from tests.integration.project.conftest import REPO, Project

STACK = """
services:
  app:
    image: busybox:latest
    init: true
    command: ["sleep", "3600"]
    environment:
      MODE: ${MODE:-one}
  other:
    image: busybox:latest
    init: true
    command: ["sleep", "3600"]
"""

# `stackr up -d` in a process that says, after it, whether it loaded the stack.
UP_REPORTING_LOAD = (
    "import sys\n"
    "from stackr.cli import main\n"
    "code = main(['up', '-d'])\n"
    "print('loaded' if 'pydantic' in sys.modules else 'settled')\n"
    "sys.exit(code)\n"
)


def up(project: Project, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(``loaded`` or ``settled``, stderr) of one ``up -d``."""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    environment.pop("MODE", None)
    environment.update(env or {})
    result = subprocess.run([sys.executable, "-c", UP_REPORTING_LOAD], cwd=project.directory,
                            env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), result.stderr


def ids(project: Project) -> dict[str, str]:
    return {name.split("-")[-2]: row["ID"] for name, row in project.ps().items()}


def records(project: Project) -> list[str]:
    directory = Path(os.environ["STACKR_RUN"]) / "projects" / "settled"
    return [name for name in os.listdir(directory) if name.startswith(f"{project.name}.")] \
        if directory.is_dir() else []


def test_nothing_changed_is_answered_without_loading_the_stack(project: Project) -> None:
    project.write(STACK)
    assert up(project)[0] == "loaded"
    before = ids(project)
    how, stderr = up(project)
    assert how == "settled"
    assert f"nothing to do: project {project.name} matches the stack file" in stderr
    assert ids(project) == before
    assert len(records(project)) == 1
    project.stackr("down", "-t", "1")
    assert up(project)[0] == "settled"  # the stack after down: from the record too
    assert set(ids(project)) == {"app", "other"}


def test_each_change_takes_the_full_path_and_converges(project: Project,
                                                        tmp_path: Path) -> None:
    from stackr.images.store import ImageStore

    project.write(STACK)
    up(project)
    first = ids(project)

    # the environment: MODE is interpolated into app's environment
    assert up(project, {"MODE": "two"})[0] == "loaded"
    second = ids(project)
    assert second["app"] != first["app"] and second["other"] == first["other"]
    assert up(project, {"MODE": "two"})[0] == "settled"

    # a .env file appearing beside the stack file (the process environment still wins)
    (project.directory / ".env").write_text("MODE=three\n")
    assert up(project)[0] == "loaded"
    third = ids(project)
    assert third["app"] != second["app"] and third["other"] == second["other"]
    assert up(project)[0] == "settled"

    # the stack file
    project.write(STACK + "    labels: {tier: back}\n")
    assert up(project)[0] == "loaded"
    fourth = ids(project)
    assert fourth["other"] != third["other"] and fourth["app"] == third["app"]
    assert up(project)[0] == "settled"

    # the engine's state: a stopped container is started again, from the record
    project.stackr("stop", "app")
    assert up(project)[0] == "settled"
    assert project.ps()[f"{project.name}-app-1"]["State"] == "running"
    assert ids(project) == fourth

    # a new image under the same tag recreates both
    rootfs = make_busybox_rootfs(tmp_path / "busybox-2")
    (rootfs / "etc" / "release").write_text("2\n")
    ImageStore().import_rootfs(rootfs, "busybox:latest", cmd=["sh"])
    assert up(project)[0] == "loaded"
    fifth = ids(project)
    assert fifth["app"] != fourth["app"] and fifth["other"] != fourth["other"]
    assert up(project)[0] == "settled"


def test_flags_that_change_the_plan_always_load(project: Project) -> None:
    project.write(STACK)
    up(project)
    before = ids(project)
    project.stackr("up", "-d", "--force-recreate")
    after = ids(project)
    assert after["app"] != before["app"] and after["other"] != before["other"]
