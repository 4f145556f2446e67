"""examples/devloop: `stackr watch` serves an edited page at once and restarts on a
configuration edit."""

from __future__ import annotations

import shutil
import socket
import time
import urllib.request
from typing import Any

from tests.integration.project.conftest import REPO, Project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fetch(url: str, expected: str, timeout: float = 20) -> str:
    """The page at ``url`` once it contains ``expected`` (the server may be restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = urllib.request.urlopen(url, timeout=5).read().decode()
            if expected in body:
                return body
        except OSError:
            body = ""
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered {expected!r} (last: {body!r})")
        time.sleep(0.05)


def test_devloop_example(project: Project, start_watch: Any) -> None:
    shutil.copytree(REPO / "examples" / "devloop", project.directory, dirs_exist_ok=True)
    port = free_port()
    (project.directory / ".env").write_text(f"DEV_PORT={port}\n")
    watch = start_watch(project, "--down")
    watch.wait_for("watching")
    url = f"http://127.0.0.1:{port}/"
    fetch(url, "devloop: edit")
    (project.directory / "site/index.html").write_text("<p>edited while watching</p>\n")
    fetch(url, "edited while watching")
    (project.directory / "conf/banner").write_text("restarted with a new banner\n")
    watch.wait_for("web: restarted")
    logs = project.stackr("-p", project.name, "logs", "web").stdout
    assert "restarted with a new banner" in logs
    fetch(url, "edited while watching")  # the synced page survives the restart
    assert watch.interrupt() == 0
    assert project.ps() == {}  # --down took it away
