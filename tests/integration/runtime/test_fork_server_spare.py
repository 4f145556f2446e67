"""The fork server's lean loop and its spare helper (imports done ahead of a request)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stackr.runtime import container
from stackr.runtime.forkserver import SPARE_IDLE_SECONDS, SPARES, ForkServer
from stackr.runtime.spec import ContainerSpec, ContainerStdio

pytestmark = pytest.mark.timeout(60)


def _spares(server_pid: int) -> list[int]:
    """The server's children that are still the server's program (not a container)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        parent = int(status.split("PPid:")[1].split()[0])
        if parent == server_pid and b"stackr.runtime.forkserver" in cmdline \
                and "State:\tZ" not in status:
            found.append(int(entry))
    return found


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def server(stackr_dirs: tuple[Path, Path]) -> Iterator[ForkServer]:
    fork_server = ForkServer.start(str(stackr_dirs[1]))
    container.use_fork_server(fork_server)
    try:
        yield fork_server
    finally:
        container.use_fork_server(None)
        fork_server.close()


def _start_sleeper(make_spec: Callable[..., ContainerSpec], cleanup: list[str]) -> str:
    spec = make_spec("sleep", "30")
    cleanup.append(spec.container_id)
    container.create(spec, ContainerStdio())
    container.start(spec.container_id)
    return spec.container_id


def _stop(container_ids: list[str]) -> None:
    for container_id in container_ids:
        container.kill(container_id, signal.SIGKILL)
        container.wait(container_id, 10)
        container.delete(container_id)


def test_a_spare_serves_the_next_create_and_leaves_when_idle(
    server: ForkServer, make_spec: Callable[..., ContainerSpec], cleanup: list[str]
) -> None:
    first = _start_sleeper(make_spec, cleanup)
    assert _wait_for(lambda: len(_spares(server.pid)) == SPARES)
    waiting = set(_spares(server.pid))
    second = _start_sleeper(make_spec, cleanup)
    # One spare became the second container's helper (and left); new spares wait.
    assert _wait_for(lambda: len(waiting - set(_spares(server.pid))) == 1)
    assert _wait_for(lambda: len(_spares(server.pid)) == SPARES)
    assert container.state(second).status is container.Status.RUNNING
    # The spare imported at a low priority; its container does not inherit that.
    second_pid = container.state(second).pid
    stat = Path(f"/proc/{second_pid}/stat").read_text()
    assert stat[stat.rindex(")") + 2:].split()[16] == "0"  # field 19: nice
    # Idle: the spare is sent away; the server and its containers stay.
    time.sleep(SPARE_IDLE_SECONDS)
    assert _wait_for(lambda: _spares(server.pid) == [])
    assert container.state(first).status is container.Status.RUNNING
    assert os.waitpid(server.pid, os.WNOHANG) == (0, 0)
    _stop([first, second])


def test_a_dead_spare_is_replaced_by_a_fresh_helper(
    server: ForkServer, make_spec: Callable[..., ContainerSpec], cleanup: list[str]
) -> None:
    first = _start_sleeper(make_spec, cleanup)
    assert _wait_for(lambda: len(_spares(server.pid)) == SPARES)
    for spare in _spares(server.pid):
        os.kill(spare, signal.SIGKILL)
    assert _wait_for(lambda: _spares(server.pid) == [])
    second = _start_sleeper(make_spec, cleanup)
    assert container.state(second).status is container.Status.RUNNING
    _stop([first, second])


def test_the_server_loop_imports_no_init_code() -> None:
    """What the server's own process loads (``-S -P``, as ForkServer starts it)."""
    import subprocess
    import sys

    code = ("import sys\nimport stackr.runtime.forkserver, stackr.syscalls\n"
            "print(' '.join(sorted(sys.modules)))")
    repo = Path(__file__).resolve().parents[3]
    modules = set(subprocess.run([sys.executable, "-S", "-P", "-c", code], check=True,
                                 text=True, capture_output=True,
                                 env={"PYTHONPATH": str(repo)}).stdout.split())
    heavy = {"json", "re", "enum", "typing", "dataclasses", "inspect", "pathlib", "socket",
             "signal", "contextlib", "subprocess", "stackr.runtime.init",
             "stackr.runtime.spec", "stackr.statefile", "stackr.errors", "stackr.cgroups"}
    assert modules & heavy == set()
