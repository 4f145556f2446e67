"""Giving freed heap back (``heap``) and the one thread that waits for exits (``exits``)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from stackr.engine.exits import ExitWatcher
from stackr.engine.heap import QuietTrim, release_free_memory


def _anonymous_kib() -> int:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1])
    raise AssertionError("no Anonymous line")


def test_release_gives_freed_heap_back() -> None:
    # Many small blocks (below glibc's mmap threshold), the last kept: freeing the
    # rest leaves free pages inside the heap that only malloc_trim returns.
    blocks = [bytearray(100_000) for _ in range(300)]
    keep = blocks[-1]
    del blocks
    before = _anonymous_kib()
    assert release_free_memory()
    assert _anonymous_kib() < before - 10_000
    assert keep


def test_quiet_trim_waits_for_quiet() -> None:
    trim = QuietTrim(quiet_seconds=0.1)
    assert not trim.poll()  # no activity: nothing to give back
    trim.activity()
    assert not trim.poll()  # too soon
    time.sleep(0.15)
    assert trim.poll()
    assert not trim.poll()  # once per burst


def _pidfd_of_sleeper(seconds: str) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(["sleep", seconds])
    return process, os.pidfd_open(process.pid)


def test_exit_watcher_calls_back_in_a_thread_of_its_own() -> None:
    stopping = threading.Event()
    watcher = ExitWatcher(stopping)
    called: list[tuple[str, int]] = []
    done = threading.Event()

    def on_exit(tag: str) -> None:
        called.append((tag, threading.get_ident()))
        if len(called) == 2:
            done.set()

    short, short_fd = _pidfd_of_sleeper("0.1")
    long, long_fd = _pidfd_of_sleeper("0.4")
    try:
        assert watcher.watch(short_fd, lambda: on_exit("short"), "watch-short")
        assert watcher.watch(long_fd, lambda: on_exit("long"), "watch-long")
        assert done.wait(5)
        assert [tag for tag, _ in called] == ["short", "long"]
        assert threading.get_ident() not in {ident for _, ident in called}
        assert watcher.watched() == 0
    finally:
        stopping.set()
        short.wait()
        long.wait()


def test_exit_watcher_lets_go_when_stopping() -> None:
    stopping = threading.Event()
    watcher = ExitWatcher(stopping)
    sleeper, pidfd = _pidfd_of_sleeper("30")
    try:
        assert watcher.watch(pidfd, lambda: None, "watch-sleeper")
        stopping.set()
        deadline = time.monotonic() + 5
        while watcher.watched() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.watched() == 0  # the next engine watches it again
        late, late_fd = _pidfd_of_sleeper("0")
        assert not watcher.watch(late_fd, lambda: None, "late")  # and it closed late_fd
        late.wait()
    finally:
        sleeper.kill()
        sleeper.wait()
