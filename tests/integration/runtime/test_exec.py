"""exec_process: another process inside a running container (docker exec, healthchecks)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from stackr.cgroups import open_manager
from stackr.runtime import container
from stackr.runtime.errors import ContainerStateError
from stackr.runtime.spec import ContainerSpec

pytestmark = pytest.mark.timeout(60)
MakeSpec = Callable[..., ContainerSpec]


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return b""


def _running(make_spec: MakeSpec, cleanup: list[str], **fields: object) -> str:
    spec = make_spec("sleep", "1000", hostname="target", **fields)
    cleanup.append(spec.container_id)
    container.create(spec)
    container.start(spec.container_id)
    return spec.container_id


def test_exec_sees_the_container(make_spec: MakeSpec, cleanup: list[str]) -> None:
    container_id = _running(make_spec, cleanup)
    entered = container.exec_process(
        container_id,
        [
            "sh",
            "-c",
            "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; grep CapEff /proc/self/status;"
            "grep Seccomp: /proc/self/status; echo $EXTRA; pwd",
        ],
        env=("EXTRA=yes",),
        cwd="/tmp",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    output, _ = entered.communicate(timeout=30)
    assert entered.returncode == 0, output
    lines = output.decode().split("\n")
    assert lines[0] == "target"
    assert lines[1] == "sleep 1000 "  # the container's PID 1: the same PID namespace
    assert lines[2] == "CapEff:\t00000000a80425fb"
    assert lines[3] == "Seccomp:\t2"
    assert lines[4:6] == ["yes", "/tmp"]
    container.delete(container_id, force=True)


def test_exec_exit_status_user_and_missing_command(make_spec: MakeSpec, cleanup: list[str]) -> None:
    container_id = _running(make_spec, cleanup)
    as_app = container.exec_process(container_id, ["sh", "-c", "id -u; exit 9"], user="app",
                                    stdout=subprocess.PIPE)  # fmt: skip
    assert as_app.communicate(timeout=30)[0] == b"1000\n"
    assert as_app.returncode == 9
    missing = container.exec_process(container_id, ["nope"], stderr=subprocess.PIPE)
    error = missing.communicate(timeout=30)[1]
    assert missing.returncode == 127
    assert b"executable file not found" in error
    container.delete(container_id, force=True)


def test_exec_is_killed_with_its_supervisor(make_spec: MakeSpec, cleanup: list[str]) -> None:
    container_id = _running(make_spec, cleanup)
    entered = container.exec_process(container_id, ["sleep", "999"])
    record = container.state(container_id)
    cgroup = open_manager(container_id)
    deadline = time.monotonic() + 20
    while not any(_cmdline(pid) == b"sleep\x00999\x00" for pid in cgroup.pids()):
        assert time.monotonic() < deadline and record.pid is not None
        time.sleep(0.01)  # no event says "the exec'd process is running"
    entered.send_signal(signal.SIGTERM)  # forwarded to the process
    assert entered.wait(timeout=30) == 128 + signal.SIGTERM
    container.delete(container_id, force=True)


def test_exec_needs_a_running_container(make_spec: MakeSpec, cleanup: list[str]) -> None:
    spec = make_spec("true")
    cleanup.append(spec.container_id)
    container.create(spec)
    with pytest.raises(ContainerStateError, match="cannot exec in a created container"):
        container.exec_process(spec.container_id, ["true"])
    container.delete(spec.container_id, force=True)
