"""``engine stop`` never signals a process that is not the recorded engine."""

from __future__ import annotations

import os
from pathlib import Path

from stackr.engine.daemon import pid_path, process_start_time, stop_engine


def test_no_pid_file_means_no_engine(stackr_dirs: tuple[Path, Path]) -> None:
    assert stop_engine() is None


def test_a_recycled_pid_is_not_signalled(stackr_dirs: tuple[Path, Path]) -> None:
    start = process_start_time(os.getpid())
    assert start is not None
    pid_path().write_text(f"{os.getpid()} {start + 1}\n")
    assert stop_engine() is None  # the start time differs: not our engine
    pid_path().write_text(f"{os.getpid()} {start}\n")
    assert stop_engine() is None  # pytest's command line is not "stackr engine"


def test_a_garbled_pid_file_is_ignored(stackr_dirs: tuple[Path, Path]) -> None:
    pid_path().write_text("not a pid\n")
    assert stop_engine() is None


def test_sd_notify_sends_the_state(tmp_path: Path) -> None:
    import socket

    from stackr.engine.daemon import notify_service_manager

    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(address)
        os.environ["NOTIFY_SOCKET"] = address
        try:
            notify_service_manager("READY=1")
        finally:
            del os.environ["NOTIFY_SOCKET"]
        assert receiver.recv(100) == b"READY=1"
    notify_service_manager("READY=1")  # no NOTIFY_SOCKET: nothing happens
