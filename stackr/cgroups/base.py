"""The one cgroup manager interface over v1 and v2 (youki's libcgroups ``CgroupManager``).

A manager owns one container's cgroup: ``<root>/<controller>/stackr/<id>`` on v1,
``<root>/stackr/<id>`` on v2 (``naming.CGROUP_PARENT``). It never decides policy: the
limits come from ``runtime.spec.Resources``. Every file write failure becomes a
``HostError`` naming the file and the value. ``describe()`` returns a small dict that
``open_manager_from(describe())`` turns back into a manager in another process (the
container's supervisor reads OOM counts after the container exits).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from stackr.errors import HostError
from stackr.record import frozen_record
from stackr.runtime.spec import Resources

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol


@frozen_record
class CgroupStats:
    """What ``stats`` reads back; ``None`` where the controller is absent."""

    memory_usage: int | None  # bytes charged now
    memory_max_usage: int | None  # high-water mark (v1 only)
    memory_limit: int | None  # bytes, None = unlimited
    cpu_usage_ns: int | None  # total CPU time consumed
    cpu_throttled_periods: int | None  # periods in which the quota ran out
    pids_current: int | None
    pids_limit: int | None
    oom_kills: int  # processes the kernel OOM-killed in this cgroup


if TYPE_CHECKING:  # a Protocol is for mypy only: no typing at run time
    class CgroupManager(Protocol):
        container_id: str

        def create(self) -> None:
            """Make the cgroup (and stackr's parent), idempotently."""

        def add_pid(self, pid: int) -> None:
            """Move a process (0 = the calling process) into the cgroup."""

        def add_current_thread(self) -> None:
            """Move the calling, single-threaded process into the cgroup, cheaply."""

        def apply(self, resources: Resources, *, devices_allow_all: bool = False,
                  device_rules: tuple[str, ...] = ()) -> None:
            """Write the limits; ``None`` fields are left at the kernel default."""

        def stats(self) -> CgroupStats: ...

        def oom_kill_count(self) -> int:
            """How many processes the kernel OOM killer killed in this cgroup."""

        def pids(self) -> list[int]:
            """Every process in the cgroup (host pids)."""

        def freeze(self) -> None:
            """Stop every process of the cgroup (``docker pause``); returns once frozen."""

        def thaw(self) -> None:
            """Let the processes run again."""

        def kill_all(self) -> None:
            """SIGKILL every process, so that nothing escapes (freezer / cgroup.kill)."""

        def remove(self) -> None:
            """Remove the cgroup; absent is fine. Kills what is left first."""

        def exists(self) -> bool: ...

        def describe(self) -> dict[str, Any]: ...


def write_file(path: Path, value: str) -> None:
    """Write a cgroup control file, naming the file and value on failure.

    O_CREAT changes nothing on cgroupfs (its files exist or cannot be made) and lets
    the unit tests' fake hierarchies be plain directories.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as error:
        raise HostError("write", f"{value!r} to {path}", error.errno) from error


def read_file(path: Path) -> str | None:
    """A control file's content, or None when the controller does not have it."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise HostError("read", str(path), error.errno) from error


def read_int(path: Path) -> int | None:
    text = read_file(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    return int(text)


def read_keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, memory.events, oom_control)."""
    text = read_file(path) or ""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def read_pids(procs_file: Path) -> list[int]:
    text = read_file(procs_file) or ""
    return sorted(int(line) for line in text.split())


def make_cgroup_dirs(path: Path, attempts: int = 5) -> None:
    """mkdir the shared parent (``stackr``) and the container's cgroup below it.

    The last container of another caller may remove the empty parent between the two
    mkdirs (``remove_parent_if_empty``): the child's mkdir then fails with ENOENT, and
    both are made again.
    """
    for attempt in range(attempts):
        try:
            path.parent.mkdir(exist_ok=True)
            path.mkdir(exist_ok=True)
            return
        except FileNotFoundError as error:
            if attempt == attempts - 1:
                raise HostError.from_os_error("create cgroup", str(path), error) from error
        except OSError as error:
            raise HostError.from_os_error("create cgroup", str(path), error) from error


def remove_parent_if_empty(parent: Path) -> bool:
    """The shared parent goes with the last container's cgroup, so nothing of stackr's
    is left in the hierarchy; other containers' cgroups keep it (EBUSY/ENOTEMPTY):
    False then."""
    try:
        os.rmdir(parent)
    except OSError as error:
        if error.errno in (errno.EBUSY, errno.ENOTEMPTY):
            return False
        if error.errno != errno.ENOENT:
            raise HostError("remove cgroup", str(parent), error.errno) from error
    return True


def remove_dir(path: Path, timeout: float = 5.0,
               kill_all: Callable[[], None] | None = None) -> None:
    """rmdir a cgroup, waiting while just-killed tasks are still leaving it (EBUSY).

    ``kill_all``: what kills the tasks of a cgroup that the first rmdir finds busy. A
    container's processes are usually all gone by now, and then this is one rmdir:
    asking first (``cgroup.procs``, a pid list the v1 kernel builds under a mutex) cost
    ~1 ms a hierarchy once twenty removals ran together.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() > deadline:
                raise HostError("remove cgroup", str(path), error.errno) from error
        if kill_all is not None:
            kill_all()
            kill_all = None
            continue
        time.sleep(delay)  # no event tells when the last exiting task has left
        delay = min(delay * 2, 0.05)
