"""The stacks under examples/ come up and go down (the README points at them)."""

from __future__ import annotations

import shutil
import socket
import urllib.request
from pathlib import Path

from tests.integration.project.conftest import REPO, Project
from tests.integration.project.test_up_down import assert_nothing_left


def use_example(project: Project, name: str) -> None:
    shutil.copytree(REPO / "examples" / name, project.directory, dirs_exist_ok=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_webapp_example(project: Project) -> None:
    use_example(project, "webapp")
    port = str(free_port())
    args = ("-p", project.name)
    project.stackr(*args, "up", "-d", "--wait", env={"WEB_PORT": port})
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
    assert "hello from the stackr webapp example" in body
    assert "db ready" in project.stackr(*args, "logs", "api").stdout
    rows = project.ps()
    assert {row["Service"]: row["Health"] for row in rows.values()} == {
        "web": "", "api": "healthy", "db": "healthy"}
    project.stackr(*args, "down", "-v")
    assert_nothing_left(project)


def test_migrate_example(project: Project) -> None:
    use_example(project, "migrate")
    args = ("-p", project.name)
    project.stackr(*args, "up", "-d")
    assert "app on schema 3" in project.stackr(*args, "logs", "app").stdout
    failed = project.stackr(*args, "up", "-d", "--force-recreate", check=False,
                            env={"FAIL": "1"})
    assert failed.returncode == 1 and "migration failed" in failed.stderr
    project.stackr(*args, "down", "-v")
    assert_nothing_left(project)
    assert Path(project.directory / "compose.yaml").exists()
