"""IPC and PID namespaces: new by default, the host's, or another container's."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from stackr.runtime import container
from stackr.runtime.spec import ContainerSpec, ContainerStdio
from tests.integration.runtime.conftest import RunResult

pytestmark = pytest.mark.timeout(60)
Run = Callable[..., RunResult]


def _namespace(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_new_namespaces_by_default(run: Run) -> None:
    result = run("sh", "-c", "echo $$; readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid")
    pid, ipc, pid_ns = result.output.split()
    assert pid == "1"
    assert ipc != _namespace("self", "ipc") and pid_ns != _namespace("self", "pid")


def test_the_hosts_namespaces(run: Run) -> None:
    result = run("sh", "-c", "echo $$; readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid",
                 ipc_namespace="host", pid_namespace="host")
    pid, ipc, pid_ns = result.output.split()
    assert pid != "1"  # a host pid: the container's /proc shows the host's processes
    assert (ipc, pid_ns) == (_namespace("self", "ipc"), _namespace("self", "pid"))


def test_joining_another_containers_namespaces(make_spec: Callable[..., ContainerSpec],
                                               cleanup: list[str], run: Run) -> None:  # fmt: skip
    owner = make_spec("sleep", "30")
    cleanup.append(owner.container_id)
    container.create(owner, ContainerStdio())
    container.start(owner.container_id)
    owner_pid = container.state(owner.container_id).pid
    assert owner_pid is not None
    result = run("sh", "-c", "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; ps -o pid,args",
                 ipc_namespace=f"/proc/{owner_pid}/ns/ipc",
                 pid_namespace=f"/proc/{owner_pid}/ns/pid")
    ipc, pid_ns, *processes = result.output.splitlines()
    assert (ipc, pid_ns) == (_namespace(owner_pid, "ipc"), _namespace(owner_pid, "pid"))
    assert any(line.split()[:2] == ["1", "sleep"] for line in processes)  # the owner's PID 1
    container.kill(owner.container_id, 9)
    container.wait(owner.container_id, 10)
