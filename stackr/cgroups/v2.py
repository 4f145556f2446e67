"""cgroup v2: one unified hierarchy, ``<root>/stackr/<id>``.

Controllers must be enabled in every ancestor's ``cgroup.subtree_control`` before a
child can use them (delegation); processes live only in leaves, so ``stackr`` itself
holds none. ``cgroup.kill`` (kernel 5.14) kills a whole subtree atomically.
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

WANTED_CONTROLLERS = ("cpu", "cpuset", "memory", "pids", "io")
CPU_PERIOD_US = 100_000


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) → cpu.weight (1..10000), as runc converts."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


IO_MAX_KEYS = {"read_bps": "rbps", "write_bps": "wbps", "read_iops": "riops",
               "write_iops": "wiops"}


class V2Manager:
    driver = "v2"

    def __init__(self, container_id: str, root: Path) -> None:
        self.container_id = container_id
        self.root = root

    @property
    def path(self) -> Path:
        return self.root / naming.CGROUP_PARENT / self.container_id

    def describe(self) -> dict[str, Any]:
        return {"driver": self.driver, "container_id": self.container_id, "root": str(self.root)}

    def exists(self) -> bool:
        return self.path.is_dir()

    def create(self) -> None:
        make_cgroup_dirs(self.path)
        self._delegate(self.root)
        self._delegate(self.path.parent)

    def _delegate(self, directory: Path) -> None:
        available = (read_file(directory / "cgroup.controllers") or "").split()
        enabled = (read_file(directory / "cgroup.subtree_control") or "").split()
        missing = [c for c in WANTED_CONTROLLERS if c in available and c not in enabled]
        if missing:
            write_file(directory / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))

    def add_pid(self, pid: int) -> None:
        write_file(self.path / "cgroup.procs", str(pid))

    def add_current_thread(self) -> None:
        # v2 has no cheap form for a process (CLONE_INTO_CGROUP would be: clone3).
        self.add_pid(0)

    def apply(self, resources: Resources, *, devices_allow_all: bool = False,
              device_rules: tuple[str, ...] = ()) -> None:
        # Devices on v2 need an eBPF program; not done (the capability set and the
        # minimal /dev are the protection there). Swappiness and disabling the OOM
        # killer have no v2 file: Docker discards them there too.
        path = self.path
        if resources.memory is not None:
            write_file(path / "memory.max", str(resources.memory))
            swap = resources.memory_swap
            if swap is None:
                swap = 2 * resources.memory
            if (path / "memory.swap.max").exists():
                # v2 limits swap alone; Docker's value is memory+swap.
                value = "max" if swap < 0 else str(max(swap - resources.memory, 0))
                write_file(path / "memory.swap.max", value)
        if resources.memory_reservation is not None:
            write_file(path / "memory.low", str(resources.memory_reservation))
        if resources.cpus is not None:
            quota = int(resources.cpus * CPU_PERIOD_US)
            write_file(path / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        if resources.cpu_shares is not None:
            write_file(path / "cpu.weight", str(shares_to_weight(resources.cpu_shares)))
        if resources.cpuset_cpus is not None:
            write_file(path / "cpuset.cpus", resources.cpuset_cpus)
        if resources.pids_limit is not None:
            limit = resources.pids_limit
            write_file(path / "pids.max", str(limit) if limit > 0 else "max")
        weight_file = path / ("io.weight" if (path / "io.weight").exists() else "io.bfq.weight")
        if weight_file.exists():
            if resources.blkio_weight is not None:
                write_file(weight_file, f"default {resources.blkio_weight}")
            for entry in resources.blkio_weight_devices:
                write_file(weight_file, entry)
        limits: dict[str, list[str]] = {}  # device -> "rbps=N" ...: one io.max line each
        for entry in resources.blkio_limits:
            kind, device, rate = entry.split(" ")
            limits.setdefault(device, []).append(f"{IO_MAX_KEYS[kind]}={rate}")
        for device, settings in limits.items():
            write_file(path / "io.max", f"{device} {' '.join(settings)}")

    def stats(self) -> CgroupStats:
        cpu = read_keyed(self.path / "cpu.stat")
        usage_usec = cpu.get("usage_usec")
        return CgroupStats(
            memory_usage=read_int(self.path / "memory.current"),
            memory_max_usage=read_int(self.path / "memory.peak"),
            memory_limit=read_int(self.path / "memory.max"),
            cpu_usage_ns=usage_usec * 1000 if usage_usec is not None else None,
            cpu_throttled_periods=cpu.get("nr_throttled"),
            pids_current=read_int(self.path / "pids.current"),
            pids_limit=read_int(self.path / "pids.max"),
            oom_kills=self.oom_kill_count(),
        )

    def oom_kill_count(self) -> int:
        return read_keyed(self.path / "memory.events").get("oom_kill", 0)

    def pids(self) -> list[int]:
        return read_pids(self.path / "cgroup.procs")

    def freeze(self) -> None:
        write_file(self.path / "cgroup.freeze", "1")
        for _ in range(1000):
            if read_keyed(self.path / "cgroup.events").get("frozen", 1) == 1:
                return
            time.sleep(0.001)  # cgroup.events could be polled; freezing is fast enough
        raise HostError("freeze cgroup", str(self.path), detail="not frozen after 1 s")

    def thaw(self) -> None:
        write_file(self.path / "cgroup.freeze", "0")

    def kill_all(self) -> None:
        if not self.exists():
            return
        if (self.path / "cgroup.kill").exists():
            write_file(self.path / "cgroup.kill", "1")
        for _ in range(1000):
            pids = self.pids()
            if not pids:
                return
            if not (self.path / "cgroup.kill").exists():
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)  # killed tasks leave asynchronously (cgroup.events has no fd here)
        raise HostError("kill processes of cgroup", str(self.path), detail="still busy")

    def remove(self) -> None:
        remove_dir(self.path, kill_all=self.kill_all)
        remove_parent_if_empty(self.path.parent)
