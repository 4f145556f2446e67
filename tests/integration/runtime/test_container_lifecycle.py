"""Lifecycle on the real kernel: kill, OOM, pids limit, forgiving delete, reused pids."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stackr.cgroups import open_manager
from stackr.runtime import container
from stackr.runtime.errors import (
    ContainerExistsError,
    ContainerNotFoundError,
    ContainerStateError,
)
from stackr.runtime.spec import ContainerSpec, ContainerStdio, Resources
from tests.integration.runtime.conftest import RunResult, read_all

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., RunResult]
MakeSpec = Callable[..., ContainerSpec]
NO_SWAP_32M = Resources(memory=32 * 1024 * 1024, memory_swap=32 * 1024 * 1024)


def _start(spec: ContainerSpec, cleanup: list[str]) -> container.ContainerState:
    cleanup.append(spec.container_id)
    container.create(spec)
    return container.start(spec.container_id)


def test_kill_with_a_signal_is_reported(make_spec: MakeSpec, cleanup: list[str]) -> None:
    spec = make_spec("sleep", "100")
    running = _start(spec, cleanup)
    assert running.status is container.Status.RUNNING
    assert container.state(spec.container_id).status is container.Status.RUNNING
    container.kill(spec.container_id, signal.SIGKILL)
    stopped = container.wait(spec.container_id, 10)
    assert stopped.status is container.Status.STOPPED
    assert stopped.signal == signal.SIGKILL
    assert stopped.exit_code == 137
    container.delete(spec.container_id)
    with pytest.raises(ContainerNotFoundError):
        container.state(spec.container_id)


def test_init_forwards_signals_and_reaps(make_spec: MakeSpec, cleanup: list[str]) -> None:
    # Without an init, PID 1 (sleep) has no SIGTERM handler and would ignore it.
    spec = make_spec("sh", "-c", "sleep 1000 & exec sleep 100", init=True)
    _start(spec, cleanup)
    container.kill(spec.container_id, signal.SIGTERM)
    stopped = container.wait(spec.container_id, 10)
    assert stopped.exit_code == 128 + signal.SIGTERM
    container.delete(spec.container_id)


def test_init_reports_the_command_exit_code(run: Run) -> None:
    result = run("sh", "-c", "echo $$; exit 7", init=True)
    assert result.output.strip() != "1"  # the init is PID 1, the command is not
    assert result.state.exit_code == 7


def test_memory_hog_is_oom_killed_and_reported(run: Run) -> None:
    # tail keeps the whole newline-free stream in memory.
    result = run(
        "sh", "-c", "head -c 200m /dev/zero | tail >/dev/null; echo survived", resources=NO_SWAP_32M
    )
    assert "survived" in result.output  # the shell survives; the hog was killed
    assert result.state.oom_killed


def test_memory_hog_as_pid_1_is_oom_killed(run: Run) -> None:
    result = run(
        "sh", "-c", "x=$(head -c 200m /dev/zero | tr '\\0' a); echo ${#x}", resources=NO_SWAP_32M
    )
    assert result.state.oom_killed


def test_fork_bomb_stops_at_pids_limit(make_spec: MakeSpec, cleanup: list[str]) -> None:
    read_end, write_end = os.pipe()
    # Each subshell keeps forking sleepers; busybox sh gives up at the first failed fork.
    spec = make_spec("sh", "-c",
                     "i=0; while [ $i -lt 40 ]; do (sleep 30 &) ; i=$((i+1)); done; "
                     "echo spawned >&2",
                     resources=Resources(pids_limit=10))  # fmt: skip
    cleanup.append(spec.container_id)
    container.create(spec, ContainerStdio(stdout=write_end, stderr=write_end))
    os.close(write_end)
    container.start(spec.container_id)
    output = read_all(read_end)
    os.close(read_end)
    assert b"can't fork" in output or b"Resource temporarily unavailable" in output
    # PID 1 has exited, which kills its PID namespace: the sleepers are going too.
    stats = container.stats(spec.container_id)
    assert stats.pids_limit == 10
    assert stats.pids_current is not None and stats.pids_current <= 10
    container.delete(spec.container_id, force=True)


def test_cpu_hog_is_throttled(make_spec: MakeSpec, cleanup: list[str]) -> None:
    spec = make_spec("sh", "-c", "while :; do :; done", resources=Resources(cpus=0.2))
    _start(spec, cleanup)
    time.sleep(0.5)  # throttling shows only after some CFS periods have passed
    stats = container.stats(spec.container_id)
    assert stats.cpu_throttled_periods is not None and stats.cpu_throttled_periods > 0
    assert stats.cpu_usage_ns is not None and stats.cpu_usage_ns < 0.45 * 1e9
    assert stats.pids_current == 1
    container.delete(spec.container_id, force=True)


def test_delete_refuses_running_unless_forced(make_spec: MakeSpec, cleanup: list[str]) -> None:
    spec = make_spec("sh", "-c", "sleep 100 & sleep 100")
    state = _start(spec, cleanup)
    with pytest.raises(ContainerStateError, match="cannot delete a running container"):
        container.delete(spec.container_id)
    container.delete(spec.container_id, force=True)
    assert state.pid is not None and not Path(f"/proc/{state.pid}").exists()
    assert not open_manager(spec.container_id).exists()


def test_created_container_can_be_deleted_with_force(
    make_spec: MakeSpec, cleanup: list[str]
) -> None:
    spec = make_spec("true")
    cleanup.append(spec.container_id)
    created = container.create(spec)
    assert created.status is container.Status.CREATED
    with pytest.raises(ContainerExistsError):
        container.create(spec)  # a duplicate id
    container.delete(spec.container_id, force=True)
    assert not container.state_dir(spec.container_id).exists()


def test_delete_of_a_half_created_container(make_spec: MakeSpec) -> None:
    # What a crash between "recorded" and "init reported" leaves: a record, a cgroup.
    spec = make_spec("true")
    directory = container.state_dir(spec.container_id)
    directory.mkdir(parents=True)
    cgroup = open_manager(spec.container_id)
    cgroup.create()
    (directory / "state.json").write_text(
        json.dumps({"id": spec.container_id, "cgroup": cgroup.describe()})
    )
    container.rw_layer_dir(spec.container_id).mkdir(parents=True)
    assert container.state(spec.container_id).status is container.Status.CREATING
    container.delete(spec.container_id)
    assert not directory.exists()
    assert not cgroup.exists()
    assert not container.rw_layer_dir(spec.container_id).exists()


def test_delete_without_any_record(make_spec: MakeSpec) -> None:
    spec = make_spec("true")
    container.state_dir(spec.container_id).mkdir(parents=True)
    container.delete(spec.container_id)
    assert not container.state_dir(spec.container_id).exists()


def test_a_reused_pid_is_not_mistaken_for_the_container(
    make_spec: MakeSpec, cleanup: list[str]
) -> None:
    spec = make_spec("sleep", "100")
    running = _start(spec, cleanup)
    record_path = container.state_dir(spec.container_id) / "state.json"
    record = json.loads(record_path.read_text())
    # The same pid with another start time: what a reused pid looks like.
    record["pid_start"] = record["pid_start"] - 1
    record_path.write_text(json.dumps(record))
    assert container.state(spec.container_id).status is container.Status.STOPPED
    with pytest.raises(ContainerStateError):
        container.kill(spec.container_id, signal.SIGKILL)
    assert running.pid is not None and Path(f"/proc/{running.pid}").exists()  # not signalled
    record["pid_start"] += 1
    record_path.write_text(json.dumps(record))
    container.delete(spec.container_id, force=True)


def test_state_and_wait_work_from_records_alone(make_spec: MakeSpec, cleanup: list[str]) -> None:
    """What an engine restart sees: nothing in memory, only the state dir and the kernel."""
    read_end, write_end = os.pipe()
    spec = make_spec("sh", "-c", "read line; echo got $line; exit 5")
    cleanup.append(spec.container_id)
    stdin_read, stdin_write = os.pipe()
    container.create(spec, ContainerStdio(stdin=stdin_read, stdout=write_end))
    os.close(write_end)
    os.close(stdin_read)
    container.start(spec.container_id)
    listed = {s.container_id: s for s in container.list_containers()}
    assert listed[spec.container_id].status is container.Status.RUNNING
    os.write(stdin_write, b"ping\n")
    os.close(stdin_write)
    assert read_all(read_end) == b"got ping\n"
    os.close(read_end)
    stopped = container.wait(spec.container_id, 10)
    assert stopped.exit_code == 5
    assert stopped.finished_at is not None and stopped.started_at is not None
    container.delete(spec.container_id)


def test_start_twice_is_refused(make_spec: MakeSpec, cleanup: list[str]) -> None:
    spec = make_spec("sleep", "100")
    _start(spec, cleanup)
    with pytest.raises(ContainerStateError, match="cannot start a running container"):
        container.start(spec.container_id)
    container.delete(spec.container_id, force=True)


def test_tty_is_the_controlling_terminal(make_spec: MakeSpec, cleanup: list[str]) -> None:
    master, slave = os.openpty()
    spec = make_spec("sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; echo $$", tty=True)
    cleanup.append(spec.container_id)
    container.create(spec, ContainerStdio(stdin=slave, stdout=slave, stderr=slave))
    os.close(slave)
    container.start(spec.container_id)
    output = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:  # EIO once the last slave fd is closed
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    container.wait(spec.container_id, 10)
    container.delete(spec.container_id)
    assert b"is-a-tty" in output


def test_pause_resume_and_processes(make_spec: MakeSpec, cleanup: list[str]) -> None:
    read_end, write_end = os.pipe()
    spec = make_spec("sh", "-c", "sleep 100 & while read line; do echo got $line; done")
    cleanup.append(spec.container_id)
    stdin_read, stdin_write = os.pipe()
    container.create(spec, ContainerStdio(stdin=stdin_read, stdout=write_end))
    os.close(stdin_read)
    os.close(write_end)
    running = container.start(spec.container_id)
    pids = container.processes(spec.container_id)
    assert running.pid in pids  # (the background sleep may not be forked yet)
    container.pause(spec.container_id)
    os.write(stdin_write, b"one\n")
    ready = select.select([read_end], [], [], 0.3)[0]
    assert not ready  # frozen: nothing answers
    container.resume(spec.container_id)
    assert os.read(read_end, 100) == b"got one\n"
    os.close(stdin_write)
    os.close(read_end)
    container.delete(spec.container_id, force=True)


def test_stop_sends_the_signal_then_kills(make_spec: MakeSpec, cleanup: list[str]) -> None:
    # sleep as PID 1 has no SIGTERM handler: the kernel drops SIGTERM, so stop kills.
    spec = make_spec("sleep", "100")
    _start(spec, cleanup)
    started = time.monotonic()
    stopped = container.stop(spec.container_id, signal.SIGTERM, timeout=0.5)
    assert stopped.signal == signal.SIGKILL
    assert time.monotonic() - started < 10
    # With a handler (a shell trap), the stop signal is enough.
    trapping = make_spec(
        "sh", "-c", "trap 'exit 42' TERM; echo trapped; while :; do sleep 0.1; done"
    )
    read_end, write_end = os.pipe()
    cleanup.append(trapping.container_id)
    container.create(trapping, ContainerStdio(stdout=write_end))
    os.close(write_end)
    container.start(trapping.container_id)
    assert os.read(read_end, 100) == b"trapped\n"  # the handler is in place
    os.close(read_end)
    assert container.stop(trapping.container_id, signal.SIGTERM, timeout=20).exit_code == 42
    assert container.stop(trapping.container_id).exit_code == 42  # already stopped: as is
    container.delete(spec.container_id)
    container.delete(trapping.container_id)


def test_console_socket_gives_a_terminal_inside_the_container(
    make_spec: MakeSpec, cleanup: list[str]
) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    spec = make_spec("sh", "-c", "tty; stat -c %U $(tty); echo $$", tty=True, user="app")
    cleanup.append(spec.container_id)
    container.create(spec, ContainerStdio(console_socket=theirs.fileno()))
    theirs.close()
    _, fds, _, _ = socket.recv_fds(ours, 1, 1)
    ours.close()
    (master,) = fds
    container.start(spec.container_id)
    output = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:  # EIO once the container's side is closed
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert container.wait(spec.container_id, 10).exit_code == 0
    container.delete(spec.container_id)
    assert output.split() == [b"/dev/pts/0", b"app", b"1"]
