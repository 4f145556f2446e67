"""Status is derived from the state dir and the kernel (pid + start time), without root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackr.errors import StateError
from stackr.runtime import container, process
from stackr.runtime.errors import ContainerNotFoundError, ContainerStateError


def write_record(container_id: str, **record: object) -> Path:
    directory = container.state_dir(container_id)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "state.json").write_text(json.dumps({"id": container_id, **record}))
    return directory


def test_a_live_recorded_process_is_running_or_created() -> None:
    me, started = os.getpid(), process.start_time(os.getpid())
    directory = write_record("live", pid=me, pid_start=started, bundle="/b")
    assert container.state("live").status is container.Status.RUNNING
    (directory / "exec.fifo").touch()
    assert container.state("live").status is container.Status.CREATED
    assert container.state("live").bundle == "/b"


def test_a_reused_pid_reads_as_stopped_with_the_recorded_exit() -> None:
    me, started = os.getpid(), process.start_time(os.getpid())
    assert started is not None
    directory = write_record("reused", pid=me, pid_start=started + 1)
    (directory / "exit.json").write_text(
        json.dumps({"exit_code": 137, "signal": 9, "oom_killed": True, "finished_at": 1.0})
    )
    state = container.state("reused")
    assert state.status is container.Status.STOPPED
    assert (state.exit_code, state.signal, state.oom_killed) == (137, 9, True)
    with pytest.raises(ContainerStateError, match="cannot kill a stopped container"):
        container.kill("reused", 15)


def test_no_pid_yet_is_creating_and_can_be_deleted() -> None:
    write_record("half")
    assert container.state("half").status is container.Status.CREATING
    assert container.Status.CREATING.can_delete()
    assert not container.Status.RUNNING.can_delete()
    assert container.Status.CREATED.can_start() and not container.Status.STOPPED.can_start()


def test_unknown_and_corrupt_records() -> None:
    with pytest.raises(ContainerNotFoundError, match="nope: no such container"):
        container.state("nope")
    directory = container.state_dir("corrupt")
    directory.mkdir(parents=True)
    (directory / "state.json").write_text("{not json")
    with pytest.raises(StateError, match="corrupt record"):
        container.state("corrupt")


def test_list_containers_is_sorted_and_skips_nothing_valid() -> None:
    write_record("b-container")
    write_record("a-container")
    assert [s.container_id for s in container.list_containers()] == ["a-container", "b-container"]


def test_records_are_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / "records" / "record.json"
    target.parent.mkdir()
    container.write_json_atomic(target, {"a": 1})
    container.write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["record.json"]  # no temp file left


def test_start_time_of_a_missing_process_is_none() -> None:
    assert process.start_time(2**22 + 12345) is None
    assert not process.is_same_process(None, 1)
