"""``stackr watch`` run as a user runs it (a subprocess), on a real engine; its output
read line by line so a test waits for what watch says, never for a fixed time."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.busybox import GROUP, PASSWD, require_busybox
from tests.integration.project.conftest import REPO, Project, project  # noqa: F401


class WatchProcess:
    def __init__(self, target: Project, *args: str) -> None:
        environment = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stackr", "-p", target.name, "watch", *args],
            cwd=target.directory, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._seen = 0  # lines consumed by wait_for

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The next line (after those already waited past) that contains ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            while self._seen < len(self.lines):
                line = self.lines[self._seen]
                self._seen += 1
                if text in line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"watch never said {text!r}:\n" + "\n".join(self.lines))
            try:
                line_or_end = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line_or_end is None:
                raise AssertionError(f"watch exited ({self.process.poll()}) before "
                                     f"{text!r}:\n" + "\n".join(self.lines))
            self.lines.append(line_or_end)

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def interrupt(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout)
        self._reader.join(5)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def start_watch() -> Iterator[object]:
    started: list[WatchProcess] = []

    def start(target: Project, *args: str) -> WatchProcess:
        watch = WatchProcess(target, *args)
        started.append(watch)
        return watch

    yield start
    for watch in started:
        watch.kill()


def make_shell_less_rootfs(path: Path) -> Path:
    """A root with one static busybox binary that is NOT linked as sh (or anything):
    no shell, no tar, no cp reachable by name — what a distroless image offers."""
    busybox = require_busybox()
    for directory in ("bin", "etc", "proc", "sys", "dev", "tmp", "app"):
        (path / directory).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, path / "bin/busybox")
    (path / "etc/passwd").write_text(PASSWD)
    (path / "etc/group").write_text(GROUP)
    os.chown(path / "app", 1000, 1000)
    return path


@pytest.fixture
def shell_less_image(project: Project, tmp_path: Path) -> str:  # noqa: F811
    from stackr.images.store import ImageStore

    rootfs = make_shell_less_rootfs(tmp_path / "noshell-rootfs")
    ImageStore().import_rootfs(rootfs, "noshell:latest",
                               cmd=["/bin/busybox", "sleep", "3600"])
    return "noshell:latest"
