"""Containers forked from a fork server behave as re-executed ones."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stackr.runtime import container, process
from stackr.runtime.errors import ContainerSetupError
from stackr.runtime.spec import ContainerSpec, ContainerStdio
from tests.integration.runtime.conftest import RunResult

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fork_server")]
Run = Callable[..., RunResult]


def test_output_exit_code_and_isolation(run: Run) -> None:
    result = run("sh", "-c", "echo $$ $(hostname); exit 4", hostname="forked")
    assert result.output == "1 forked\n"
    assert result.state.exit_code == 4


def test_only_stdio_is_inherited(run: Run) -> None:
    # No fd of the engine, the fork server or the shim leaks into the container.
    result = run("sh", "-c", "ls /proc/self/fd")
    assert result.output.split() == ["0", "1", "2", "3"]  # 3: ls's own directory fd


def test_setup_errors_are_reported(run: Run) -> None:
    with pytest.raises(ContainerSetupError, match="executable file not found"):
        run("missing-command")


def test_concurrent_creates_from_threads(run: Run) -> None:
    results: dict[int, RunResult] = {}
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            results[index] = run("sh", "-c", f"echo {index}")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert {i: r.output for i, r in results.items()} == {i: f"{i}\n" for i in range(6)}
    assert all(r.state.status is container.Status.STOPPED for r in results.values())


def test_console_socket_through_the_fork_server(make_spec: Callable[..., ContainerSpec],
                                                cleanup: list[str]) -> None:  # fmt: skip
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    spec = make_spec("tty", tty=True)
    cleanup.append(spec.container_id)
    container.create(spec, ContainerStdio(console_socket=theirs.fileno()))
    theirs.close()
    _, fds, _, _ = socket.recv_fds(ours, 1, 1)
    ours.close()
    container.start(spec.container_id)
    assert container.wait(spec.container_id, 10).exit_code == 0
    assert os.read(fds[0], 100) == b"/dev/pts/0\r\n"
    os.close(fds[0])
    container.delete(spec.container_id)


def test_a_dead_fork_server_is_started_again(run: Run, stackr_dirs: tuple[Path, Path]) -> None:
    from stackr.runtime.forkserver import ForkServer

    server = ForkServer.start(str(stackr_dirs[1]))
    container.use_fork_server(server)
    try:
        first_pid = server.pid
        os.kill(first_pid, signal.SIGKILL)
        server._helper.wait(10)  # dead, not dying: a request sent meanwhile would be lost
        assert run("echo", "again").output == "again\n"
        assert server.pid != first_pid
    finally:
        server.close()


def _parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def test_the_server_reaps_its_containers_and_outlives_the_engine_side(
    make_spec: Callable[..., ContainerSpec], cleanup: list[str], stackr_dirs: tuple[Path, Path]
) -> None:
    from stackr.runtime.forkserver import ForkServer

    server = ForkServer.start(str(stackr_dirs[1]))
    spec = make_spec("sleep", "30")
    cleanup.append(spec.container_id)
    container.use_fork_server(server)
    try:
        container.create(spec, ContainerStdio())
        container.start(spec.container_id)
        pid = container.state(spec.container_id).pid
        assert pid is not None
        # PID 1's parent is the server itself once the helper that forked it has left
        # (the helper exits right after its report): no shim process per container.
        deadline = time.monotonic() + 5
        while _parent_of(pid) != server.pid and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _parent_of(pid) == server.pid
        # The engine's end goes away (an engine restart): the server stays, since it
        # watches a running container ...
        server.close(timeout=5)
        assert process.is_alive(server.pid)
        container.kill(spec.container_id, signal.SIGKILL)
        state = container.wait(spec.container_id, 10)
        assert (state.exit_code, state.signal) == (137, signal.SIGKILL)
        # ... and leaves once it has recorded its last container's exit.
        assert server._helper.wait(10) == 0
    finally:
        container.use_fork_server(None)
        if server._helper.returncode is None:  # failed midway: take the server away too
            with contextlib.suppress(Exception):
                container.kill(spec.container_id, signal.SIGKILL)
            server.close(timeout=5)
            with contextlib.suppress(TimeoutError):
                server._helper.wait(10)


def test_an_exec_failure_is_recorded_by_the_server(busybox_layer: Path, run: Run) -> None:
    script = busybox_layer / "bad.sh"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    result = run("/bad.sh")
    assert result.state.exit_code == 127
    assert result.state.error is not None and result.state.error.startswith("exec /bad.sh")
