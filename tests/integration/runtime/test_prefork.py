"""``PreFork``: containers built by a child forked ahead, as by the fork server."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator

import pytest

from stackr.runtime import container, prefork
from stackr.runtime.spec import ContainerSpec, ContainerStdio
from tests.integration.runtime.conftest import read_all

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def single_threaded() -> Iterator[None]:
    if not prefork.single_threaded():
        pytest.skip("the test process has threads: PreFork refuses to fork")
    yield
    container.use_fork_server(None)


def gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def run_with(launcher: prefork.PreFork, spec: ContainerSpec, cleanup: list[str]) -> tuple[str, int]:
    container.use_fork_server(launcher)
    read_end, write_end = os.pipe()
    cleanup.append(spec.container_id)
    # Taken before the create: a launcher whose child died reaps it then and says 0,
    # and waitpid(0) would ask about every child of this process instead.
    child_pid = launcher.child_pid
    try:
        container.create(spec, ContainerStdio(stdout=write_end, stderr=write_end))
    finally:
        os.close(write_end)
        container.use_fork_server(None)
        launcher.close()
    assert gone(child_pid)  # reaped once it had handed the container over
    container.start(spec.container_id)
    output = read_all(read_end).decode()  # EOF: nothing but the container holds the pipe
    os.close(read_end)
    state = container.wait(spec.container_id, timeout=30)
    container.delete(spec.container_id)
    assert state.exit_code is not None
    return output, state.exit_code


def test_a_container_from_the_preforked_child(
    make_spec: Callable[..., ContainerSpec], cleanup: list[str]
) -> None:
    # An fd the caller holds when it forks (inheritable, as a caller's pass_fds) does
    # not reach the container, nor keep the shim holding it.
    held_read, held_write = os.pipe()
    os.set_inheritable(held_write, True)
    launcher = prefork.PreFork.start()
    spec = make_spec("sh", "-c", "echo $$ $(hostname); ls /proc/self/fd; exit 3", hostname="pre")
    output, exit_code = run_with(launcher, spec, cleanup)
    assert output.split() == ["1", "pre", "0", "1", "2", "3"]  # 3: ls's own directory fd
    assert exit_code == 3
    os.close(held_write)
    assert os.read(held_read, 1) == b""  # no process of the container kept it
    os.close(held_read)


def test_an_unused_prefork_leaves_nothing() -> None:
    launcher = prefork.PreFork.start()
    child_pid = launcher.child_pid
    launcher.close()
    assert gone(child_pid)
    launcher.close()  # again: nothing to do


def test_a_dead_child_is_replaced_by_a_direct_fork(
    make_spec: Callable[..., ContainerSpec], cleanup: list[str]
) -> None:
    launcher = prefork.PreFork.start()
    os.kill(launcher.child_pid, signal.SIGKILL)
    os.waitid(os.P_PID, launcher.child_pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped
    output, exit_code = run_with(launcher, make_spec("echo", "direct"), cleanup)
    assert (output, exit_code) == ("direct\n", 0)
