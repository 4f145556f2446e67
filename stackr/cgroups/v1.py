"""cgroup v1: one directory per controller, ``<root>/<controller>/stackr/<id>``.

Quirks handled here: a new cpuset cgroup starts with empty ``cpuset.cpus`` and
``cpuset.mems`` and refuses tasks until they are copied from the parent; the
memory+swap limit must be written after the memory limit (it may never be below it);
``memory.oom_control`` counts OOM kills (``oom_kill``) since kernel 4.13.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from stackr import naming
from stackr.cgroups.base import (
    CgroupStats,
    make_cgroup_dirs,
    read_file,
    read_int,
    read_keyed,
    read_pids,
    remove_dir,
    remove_parent_if_empty,
    write_file,
)
from stackr.errors import HostError
from stackr.runtime.spec import Resources

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any

CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio")
CFS_PERIOD_US = 100_000
UNLIMITED_FLOOR = 1 << 62  # v1 reports "no limit" as a page-rounded LONG_MAX

# Docker's default device allow-list (moby oci/devices_linux.go + defaults).
DEFAULT_DEVICE_RULES = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
    "c 10:200 rwm",  # tun
)


_found_hierarchies: dict[Path, tuple[str, ...]] = {}


def _hierarchies(root: Path) -> tuple[str, ...]:
    """The controllers under ``root`` that name distinct mounted hierarchies, found once
    per process: the host's hierarchies do not change under a running engine, and
    finding them is 16 syscalls (and ~100 path operations) that every create, start and
    delete of a container asked for."""
    found = _found_hierarchies.get(root)
    if found is None:
        seen: set[tuple[int, int]] = set()
        names = []
        for controller in CONTROLLERS:
            try:
                os.stat(root / controller / "cgroup.procs")
                hierarchy = os.stat(root / controller)  # follows cpu -> cpu,cpuacct
            except FileNotFoundError:
                continue
            if (hierarchy.st_dev, hierarchy.st_ino) not in seen:
                seen.add((hierarchy.st_dev, hierarchy.st_ino))
                names.append(controller)
        found = _found_hierarchies[root] = tuple(names)
    return found


class V1Manager:
    driver = "v1"

    def __init__(self, container_id: str, root: Path) -> None:
        self.container_id = container_id
        self.root = root
        self._hierarchy_paths: list[Path] | None = None

    def path(self, controller: str) -> Path:
        return self.root / controller / naming.CGROUP_PARENT / self.container_id

    def _distinct_paths(self) -> list[Path]:
        """One path per hierarchy: "cpu" and "cpuacct" may be the same mount."""
        if self._hierarchy_paths is None:
            self._hierarchy_paths = [self.path(controller)
                                     for controller in _hierarchies(self.root)]
        return list(self._hierarchy_paths)

    def describe(self) -> dict[str, Any]:
        return {"driver": self.driver, "container_id": self.container_id, "root": str(self.root)}

    def exists(self) -> bool:
        return any(path.is_dir() for path in self._distinct_paths())

    def create(self) -> None:
        for path in self._distinct_paths():
            make_cgroup_dirs(path)
            if path.parts[-3] == "cpuset":
                # A new v1 cpuset has no cpus or mems: copy them down, parent first.
                for directory in (path.parent, path):
                    self._inherit_cpuset(directory)

    def _inherit_cpuset(self, directory: Path) -> None:
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not (read_file(directory / name) or "").strip():
                write_file(directory / name, (read_file(directory.parent / name) or "").strip())

    def add_pid(self, pid: int) -> None:
        for path in self._distinct_paths():
            write_file(path / "cgroup.procs", str(pid))

    def add_current_thread(self) -> None:
        # "0" written to ``tasks`` moves only the current thread, which the kernel does
        # without the global cgroup_threadgroup_rwsem (whose write side waits for an
        # RCU grace period); for a single-threaded process that is the whole process.
        for path in self._distinct_paths():
            write_file(path / "tasks", "0")

    def apply(self, resources: Resources, *, devices_allow_all: bool = False,
              device_rules: tuple[str, ...] = ()) -> None:
        memory = self.path("memory")
        if memory.is_dir():
            if resources.memory is not None:
                write_file(memory / "memory.limit_in_bytes", str(resources.memory))
                swap = resources.memory_swap
                if swap is None:
                    swap = 2 * resources.memory  # Docker: swap as large as memory
                if (memory / "memory.memsw.limit_in_bytes").exists():
                    write_file(memory / "memory.memsw.limit_in_bytes", str(swap))
            if resources.memory_reservation is not None:
                write_file(memory / "memory.soft_limit_in_bytes", str(resources.memory_reservation))
            if resources.memory_swappiness is not None:
                write_file(memory / "memory.swappiness", str(resources.memory_swappiness))
            if resources.disable_oom_killer:
                write_file(memory / "memory.oom_control", "1")
        cpu = self.path("cpu")
        if cpu.is_dir():
            if resources.cpus is not None:
                write_file(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                write_file(cpu / "cpu.cfs_quota_us", str(int(resources.cpus * CFS_PERIOD_US)))
            if resources.cpu_shares is not None:
                write_file(cpu / "cpu.shares", str(resources.cpu_shares))
        cpuset = self.path("cpuset")
        if cpuset.is_dir() and resources.cpuset_cpus is not None:
            write_file(cpuset / "cpuset.cpus", resources.cpuset_cpus)
        pids = self.path("pids")
        if pids.is_dir() and resources.pids_limit is not None:
            limit = resources.pids_limit
            write_file(pids / "pids.max", str(limit) if limit > 0 else "max")
        blkio = self.path("blkio")
        if blkio.is_dir():
            # CFQ's files, else BFQ's (a kernel has one or the other, or neither:
            # then a weight is discarded, as Docker does); limits are the throttle's.
            prefix = "blkio." if (blkio / "blkio.weight").exists() else "blkio.bfq."
            if resources.blkio_weight is not None and (blkio / f"{prefix}weight").exists():
                write_file(blkio / f"{prefix}weight", str(resources.blkio_weight))
            for entry in resources.blkio_weight_devices:
                if (blkio / f"{prefix}weight_device").exists():
                    write_file(blkio / f"{prefix}weight_device", entry)
            for entry in resources.blkio_limits:
                kind, device_rate = entry.split(" ", 1)
                write_file(blkio / f"blkio.throttle.{kind}_device", device_rate)
        devices = self.path("devices")
        if devices.is_dir() and not devices_allow_all:
            write_file(devices / "devices.deny", "a")
            for rule in (*DEFAULT_DEVICE_RULES, *device_rules):
                write_file(devices / "devices.allow", rule)

    def stats(self) -> CgroupStats:
        memory = self.path("memory")
        limit = read_int(memory / "memory.limit_in_bytes")
        throttling = read_keyed(self.path("cpu") / "cpu.stat")
        pids_limit = read_int(self.path("pids") / "pids.max")
        return CgroupStats(
            memory_usage=read_int(memory / "memory.usage_in_bytes"),
            memory_max_usage=read_int(memory / "memory.max_usage_in_bytes"),
            memory_limit=limit if limit is not None and limit < UNLIMITED_FLOOR else None,
            cpu_usage_ns=read_int(self.path("cpuacct") / "cpuacct.usage"),
            cpu_throttled_periods=throttling.get("nr_throttled"),
            pids_current=read_int(self.path("pids") / "pids.current"),
            pids_limit=pids_limit,
            oom_kills=self.oom_kill_count(),
        )

    def oom_kill_count(self) -> int:
        return read_keyed(self.path("memory") / "memory.oom_control").get("oom_kill", 0)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self._distinct_paths():
            found.update(read_pids(path / "cgroup.procs"))
        return sorted(found)

    def kill_all(self) -> None:
        """Freeze, SIGKILL every task, thaw: a forking process cannot slip out between."""
        freezer = self.path("freezer")
        frozen = freezer.is_dir() and (freezer / "freezer.state").exists()
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            if frozen:
                self._set_freezer(freezer, "FROZEN")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if frozen:
                write_file(freezer / "freezer.state", "THAWED")
            if not self.pids():
                return
            time.sleep(0.002)  # killed tasks leave the cgroup asynchronously
        raise HostError("kill processes of cgroup", str(self.path("pids")), detail="still busy")

    def freeze(self) -> None:
        self._set_freezer(self.path("freezer"), "FROZEN")

    def thaw(self) -> None:
        self._set_freezer(self.path("freezer"), "THAWED")

    def _set_freezer(self, freezer: Path, wanted: str) -> None:
        write_file(freezer / "freezer.state", wanted)
        for _ in range(500):
            if (read_file(freezer / "freezer.state") or "").strip() == wanted:
                return
            time.sleep(0.001)  # FREEZING → FROZEN has no event in v1

    def remove(self) -> None:
        paths = self._distinct_paths()
        for path in paths:
            remove_dir(path, kill_all=self.kill_all)
        # Another container's cgroups keep the shared parent of the first hierarchy, and
        # so of every other: one rmdir asks, where asking each hierarchy cost a 20-service
        # teardown 140 failing rmdirs, each taking the kernel's cgroup mutex.
        for path in paths:
            if not remove_parent_if_empty(path.parent):
                break
