"""The watcher on real inotify (no root needed): events arrive, and keep arriving after
a file is deleted and re-created and a directory is moved away and back."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackr.watch.watcher import Watcher


class Recorder:
    def __init__(self) -> None:
        self.paths: queue.Queue[Path] = queue.Queue()
        self.problems: list[str] = []

    def __call__(self, paths: list[Path]) -> None:
        for path in paths:
            self.paths.put(path)

    def wait_for(self, wanted: Path, timeout: float = 5.0) -> set[Path]:
        """Every path seen until ``wanted`` arrives (fails after ``timeout``)."""
        seen: set[Path] = set()
        deadline = time.monotonic() + timeout
        while wanted not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no event for {wanted}; saw {sorted(seen)}")
            try:
                seen.add(self.paths.get(timeout=remaining))
            except queue.Empty:
                continue
        return seen

    def drain(self) -> set[Path]:
        seen = set()
        while True:
            try:
                seen.add(self.paths.get(timeout=0.2))
            except queue.Empty:
                return seen


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src/pkg").mkdir(parents=True)
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "other.txt").write_text("not watched\n")
    return tmp_path


@pytest.fixture
def watched(project: Path) -> Iterator[tuple[Watcher, Recorder]]:
    recorder = Recorder()
    watcher = Watcher([project / "compose.yaml", project / "src"], recorder,
                      recorder.problems.append, recheck_every=0.2)
    watcher.start()
    try:
        yield watcher, recorder
    finally:
        watcher.stop()


def test_file_and_tree_changes(project: Path, watched: tuple[Watcher, Recorder]) -> None:
    _, recorder = watched
    (project / "src/pkg/a.py").write_text("a")
    recorder.wait_for(project / "src/pkg/a.py")
    (project / "compose.yaml").write_text("services: {a: {image: x}}\n")
    recorder.wait_for(project / "compose.yaml")
    (project / "other.txt").write_text("changed")
    (project / "src/.a.py.swp").write_text("vim")
    (project / "src/.git").mkdir()
    (project / "src/.git/index").write_text("git")
    (project / "src/done").write_text("marker")
    seen = recorder.wait_for(project / "src/done")
    assert not {project / "other.txt", project / "src/.a.py.swp",
                project / "src/.git/index"} & seen


def test_stack_file_deleted_and_recreated(project: Path,
                                          watched: tuple[Watcher, Recorder]) -> None:
    _, recorder = watched
    (project / "compose.yaml").unlink()
    recorder.wait_for(project / "compose.yaml")
    (project / "compose.yaml").write_text("services: {}\n")
    recorder.wait_for(project / "compose.yaml")
    # an editor's save: write a temp file, rename it over the original
    (project / "compose.yaml.tmp").write_text("services: {b: {image: y}}\n")
    (project / "compose.yaml.tmp").rename(project / "compose.yaml")
    recorder.wait_for(project / "compose.yaml")
    (project / "compose.yaml").write_text("again\n")
    recorder.wait_for(project / "compose.yaml")


def test_directory_moved_away_and_back(project: Path, tmp_path: Path,
                                       watched: tuple[Watcher, Recorder]) -> None:
    watcher, recorder = watched
    (project / "src").rename(tmp_path / "src.away")
    recorder.wait_for(project / "src")
    deadline = time.monotonic() + 5
    while project / "src" in watcher.watched_trees():  # the watch on the old inode dropped
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (tmp_path / "src.away/pkg/while-away.py").write_text("not reported as src/...")
    (tmp_path / "src.away").rename(project / "src")
    recorder.wait_for(project / "src")  # back: the whole root is reported
    deadline = time.monotonic() + 5
    while project / "src" not in watcher.watched_trees() and time.monotonic() < deadline:
        time.sleep(0.01)
    (project / "src/pkg/after.py").write_text("b")
    recorder.wait_for(project / "src/pkg/after.py")
    assert any("gone" in text for text in recorder.problems)


def test_missing_root_appears_later(tmp_path: Path) -> None:
    recorder = Recorder()
    watcher = Watcher([tmp_path / "later/deep"], recorder, recorder.problems.append,
                      recheck_every=0.2)
    watcher.start()
    try:
        (tmp_path / "later/deep").mkdir(parents=True)
        recorder.wait_for(tmp_path / "later/deep")
        deadline = time.monotonic() + 5
        while tmp_path / "later/deep" not in watcher.watched_trees():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (tmp_path / "later/deep/x").write_text("x")
        recorder.wait_for(tmp_path / "later/deep/x")
        assert recorder.problems == []  # never there before: nothing to report
    finally:
        watcher.stop()
