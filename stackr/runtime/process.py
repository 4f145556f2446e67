"""Processes seen from the host: start the init helper, identify, signal and await pids.

A pid alone is not an identity: the kernel reuses pids. A process is identified by
(pid, start time), the start time being field 22 of /proc/<pid>/stat (runc's
``hasInit``). Signals go through a pidfd opened *before* the start time is checked,
so the process cannot be replaced between the check and the signal.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal as signals
import sys
import time
from pathlib import Path

from stackr.errors import HostError
from stackr.runtime.errors import ContainerSetupError
from stackr.runtime.spec import ContainerStdio

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:  # the Protocol too: it is for mypy only
    from typing import Any, Protocol

    class Launcher(Protocol):
        """Starts the init helper by a fork (``forkserver.ForkServer``, ``DirectFork``)."""

        def launch(self, config: dict[str, Any], fds: list[int]) -> None:
            """``fds``: stdin, stdout, stderr, the report pipe's write end[, console socket]."""


# The helper must import stackr from the same place as this process, whatever its cwd.
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            text = stat_file.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ")".
    fields = text[text.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie has exited; only its status is left
        return None
    return int(fields[19])


def is_alive(pid: int) -> bool:
    return start_time(pid) is not None


def is_same_process(pid: int | None, recorded_start: int | None) -> bool:
    """True when ``pid`` is alive and is the process recorded (same start time)."""
    if pid is None or recorded_start is None:
        return False
    return start_time(pid) == recorded_start


def signal_pid(pid: int, recorded_start: int | None, signal: int) -> bool:
    """Signal the recorded process; False when it is gone (or the pid was reused)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        if recorded_start is not None and start_time(pid) != recorded_start:
            return False
        try:
            signals.pidfd_send_signal(pidfd, signal)
        except ProcessLookupError:
            return False
        return True
    finally:
        os.close(pidfd)


def wait_for_exit(pid: int, recorded_start: int | None, timeout: float | None) -> None:
    """Block until the recorded process has exited (a pidfd becomes readable)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if recorded_start is not None and start_time(pid) != recorded_start:
            return
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if not ready:
            raise TimeoutError(f"process {pid} still running after {timeout}s")
    finally:
        os.close(pidfd)


def reap_if_child(pid: int) -> None:
    """Collect the zombie of ``pid`` when it is our child (or re-parented to us)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def spawn_init(
    container_id: str,
    state_dir: Path,
    init_config: dict[str, Any],
    stdio: ContainerStdio,
    timeout: float,
    fork_server: Launcher | None = None,
) -> None:
    """Start the container's init helper and wait for it to report the container built.

    With a ``fork_server``, the helper is forked from it; otherwise it is
    ``python -m stackr.runtime.init``. The report comes back over a pipe, which the
    shim closes once it has recorded the pids in state.json. The helper's fds 0-2 are
    the container's stdio. ``subprocess`` forks and execs in C, which is safe in a
    multi-threaded caller.
    """
    if fork_server is not None:
        _launch_from_server(container_id, init_config, stdio, timeout, fork_server)
        return
    import subprocess  # only the caller needs it, not the init helper that imports us

    console_fds = () if stdio.console_socket is None else (stdio.console_socket,)
    if console_fds:
        init_config = {**init_config, "console_fd": console_fds[0]}  # same number in the helper
    config_read, config_write = os.pipe()
    report_read, report_write = os.pipe()
    null_fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        helper = subprocess.Popen(
            [
                sys.executable,
                "-S",  # no site: the helper needs only stackr, and starts faster
                "-m",
                "stackr.runtime.init",
                str(state_dir),
                str(config_read),
                str(report_write),
            ],
            stdin=stdio.stdin if stdio.stdin is not None else null_fd,
            stdout=stdio.stdout if stdio.stdout is not None else null_fd,
            stderr=stdio.stderr if stdio.stderr is not None else null_fd,
            pass_fds=(config_read, report_write, *console_fds),
            env={"PYTHONPATH": PACKAGE_PARENT},
            cwd="/",
        )
    except OSError as error:
        for fd in (config_read, config_write, report_read, report_write, null_fd):
            os.close(fd)
        raise HostError.from_os_error("start the init process of", container_id, error) from error
    os.close(config_read)
    os.close(report_write)
    os.close(null_fd)
    try:
        with os.fdopen(config_write, "wb") as config_pipe:
            config_pipe.write(json.dumps(init_config).encode())
    except BrokenPipeError:
        pass  # the helper died; its report (or its absence) says why
    try:
        report = _read_report(report_read, timeout)
    finally:
        os.close(report_read)
        helper.wait()  # exits as soon as it has forked the shim
    _check_report(container_id, report)


def _launch_from_server(
    container_id: str,
    init_config: dict[str, Any],
    stdio: ContainerStdio,
    timeout: float,
    fork_server: Launcher,
) -> None:
    report_read, report_write = os.pipe()
    null_fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    fds = [fd if fd is not None else null_fd for fd in (stdio.stdin, stdio.stdout, stdio.stderr)]
    fds.append(report_write)
    if stdio.console_socket is not None:
        fds.append(stdio.console_socket)
    try:
        fork_server.launch(init_config, fds)
    except OSError as error:
        os.close(report_read)
        raise HostError.from_os_error("reach the fork server for", container_id, error) from error
    finally:
        os.close(report_write)
        os.close(null_fd)
    try:
        report = _read_report(report_read, timeout)
    finally:
        os.close(report_read)
    _check_report(container_id, report)


def _check_report(container_id: str, report: bytes) -> None:
    if not report:
        raise ContainerSetupError(container_id, "the init process exited without a report")
    message = json.loads(report)
    if "error" in message:
        raise ContainerSetupError(container_id, message["error"])


def _read_report(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no report from the container's init after {timeout}s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError as error:
            if error.errno == errno.EINTR:
                continue
            raise
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
