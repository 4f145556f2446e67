"""cgroup v1 and v2 managers on fake hierarchies in a temporary directory (youki style)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.cgroups import CgroupSetup, detect_setup, open_manager, open_manager_from
from stackr.cgroups.v1 import V1Manager
from stackr.cgroups.v2 import V2Manager, shares_to_weight
from stackr.errors import PreconditionError
from stackr.runtime.spec import Resources

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio")


def fake_v1(root: Path, hybrid: bool = False) -> Path:
    for controller in V1_CONTROLLERS:
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    (root / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    if hybrid:
        (root / "unified").mkdir()
        (root / "unified" / "cgroup.controllers").write_text("")
    return root


def fake_v2(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def prepare_v1_cgroup(manager: V1Manager) -> None:
    """What the kernel would show in a new cgroup: empty files ready to be written."""
    manager.create()
    for controller in V1_CONTROLLERS:
        (manager.path(controller) / "cgroup.procs").write_text("")


def test_detect_setup(tmp_path: Path) -> None:
    assert detect_setup(fake_v1(tmp_path / "v1")) is CgroupSetup.LEGACY
    assert detect_setup(fake_v1(tmp_path / "hybrid", hybrid=True)) is CgroupSetup.HYBRID
    assert detect_setup(fake_v2(tmp_path / "v2")) is CgroupSetup.UNIFIED
    with pytest.raises(PreconditionError, match="no cgroup hierarchy"):
        detect_setup(tmp_path / "nothing")


def test_hybrid_host_is_driven_through_v1(tmp_path: Path) -> None:
    manager = open_manager("c1", fake_v1(tmp_path, hybrid=True))
    assert isinstance(manager, V1Manager)


def test_v1_create_inherits_cpuset_and_applies_limits(tmp_path: Path) -> None:
    manager = V1Manager("c1", fake_v1(tmp_path))
    manager.create()
    path = tmp_path / "memory" / "stackr" / "c1"
    assert path.is_dir()
    assert (tmp_path / "cpuset/stackr/c1/cpuset.cpus").read_text() == "0-1"
    assert (tmp_path / "cpuset/stackr/cpuset.mems").read_text() == "0"
    (path / "memory.memsw.limit_in_bytes").write_text("")
    manager.apply(Resources(memory=64 << 20, cpus=1.5, cpu_shares=512, pids_limit=0))
    assert (path / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (path / "memory.memsw.limit_in_bytes").read_text() == str(128 << 20)
    assert (tmp_path / "cpu/stackr/c1/cpu.cfs_quota_us").read_text() == "150000"
    assert (tmp_path / "cpu/stackr/c1/cpu.cfs_period_us").read_text() == "100000"
    assert (tmp_path / "cpu/stackr/c1/cpu.shares").read_text() == "512"
    assert (tmp_path / "pids/stackr/c1/pids.max").read_text() == "max"
    assert (tmp_path / "devices/stackr/c1/devices.allow").read_text() == "c 10:200 rwm"
    assert not (path / "memory.swappiness").exists()
    manager.apply(Resources(memory_swappiness=0, disable_oom_killer=True))
    assert (path / "memory.swappiness").read_text() == "0"
    assert (path / "memory.oom_control").read_text() == "1"
    blkio = tmp_path / "blkio/stackr/c1"
    (blkio / "blkio.bfq.weight").write_text("")  # a BFQ kernel: no CFQ blkio.weight
    manager.apply(Resources(blkio_weight=300, blkio_limits=("read_bps 8:0 1048576",)))
    assert (blkio / "blkio.bfq.weight").read_text() == "300"
    assert (blkio / "blkio.throttle.read_bps_device").read_text() == "8:0 1048576"


def test_v1_stats_and_oom_count(tmp_path: Path) -> None:
    manager = V1Manager("c1", fake_v1(tmp_path))
    prepare_v1_cgroup(manager)
    memory = manager.path("memory")
    (memory / "memory.usage_in_bytes").write_text("4096\n")
    (memory / "memory.max_usage_in_bytes").write_text("8192\n")
    (memory / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (manager.path("cpuacct") / "cpuacct.usage").write_text("123456\n")
    (manager.path("cpu") / "cpu.stat").write_text("nr_periods 10\nnr_throttled 4\n")
    (manager.path("pids") / "pids.current").write_text("3\n")
    (manager.path("pids") / "pids.max").write_text("max\n")
    stats = manager.stats()
    assert stats.memory_usage == 4096
    assert stats.memory_max_usage == 8192
    assert stats.memory_limit is None  # LONG_MAX means unlimited
    assert stats.cpu_usage_ns == 123456
    assert stats.cpu_throttled_periods == 4
    assert stats.pids_current == 3
    assert stats.pids_limit is None
    assert stats.oom_kills == 2


def test_v1_add_pid_remove_and_describe(tmp_path: Path) -> None:
    manager = V1Manager("c1", fake_v1(tmp_path))
    manager.create()
    manager.add_pid(0)
    assert (manager.path("pids") / "cgroup.procs").read_text() == "0"
    reopened = open_manager_from(manager.describe())
    assert isinstance(reopened, V1Manager) and reopened.path("pids") == manager.path("pids")
    # In the fake tree the "0" written above reads back as a pid; empty it as the kernel would.
    for controller in V1_CONTROLLERS:
        (manager.path(controller) / "cgroup.procs").unlink()
    for controller in V1_CONTROLLERS:
        for leftover in manager.path(controller).iterdir():
            leftover.unlink()
    manager.remove()
    assert not manager.exists()
    manager.remove()  # absent is fine


def test_v2_create_delegates_controllers_and_applies(tmp_path: Path) -> None:
    root = fake_v2(tmp_path)
    manager = open_manager("c2", root)
    assert isinstance(manager, V2Manager)
    (root / "stackr").mkdir()
    (root / "stackr" / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    manager.create()
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids +io"
    assert (root / "stackr/cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids +io"
    (manager.path / "memory.swap.max").write_text("")
    manager.apply(Resources(memory=100, memory_swap=300, cpus=0.5, cpu_shares=1024,
                            pids_limit=20))  # fmt: skip
    assert (manager.path / "memory.max").read_text() == "100"
    assert (manager.path / "memory.swap.max").read_text() == "200"
    assert (manager.path / "cpu.max").read_text() == "50000 100000"
    assert (manager.path / "cpu.weight").read_text() == "39"
    assert (manager.path / "pids.max").read_text() == "20"
    (manager.path / "io.weight").write_text("")
    manager.apply(Resources(blkio_weight=300, blkio_limits=(
        "read_bps 8:0 1048576", "write_iops 8:0 100")))
    assert (manager.path / "io.weight").read_text() == "default 300"
    assert (manager.path / "io.max").read_text() == "8:0 rbps=1048576 wiops=100"


def test_v2_stats_and_oom_count(tmp_path: Path) -> None:
    manager = V2Manager("c2", fake_v2(tmp_path))
    manager.create()
    (manager.path / "memory.current").write_text("2048\n")
    (manager.path / "memory.max").write_text("max\n")
    (manager.path / "cpu.stat").write_text("usage_usec 1500\nnr_throttled 7\n")
    (manager.path / "pids.current").write_text("2\n")
    (manager.path / "pids.max").write_text("50\n")
    (manager.path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    stats = manager.stats()
    assert stats.memory_usage == 2048
    assert stats.memory_limit is None
    assert stats.cpu_usage_ns == 1_500_000
    assert stats.cpu_throttled_periods == 7
    assert (stats.pids_current, stats.pids_limit, stats.oom_kills) == (2, 50, 1)


def test_v2_kill_uses_cgroup_kill_and_remove(tmp_path: Path) -> None:
    manager = V2Manager("c2", fake_v2(tmp_path))
    manager.create()
    (manager.path / "cgroup.kill").write_text("")
    (manager.path / "cgroup.procs").write_text("")
    manager.kill_all()
    assert (manager.path / "cgroup.kill").read_text() == "1"
    for leftover in manager.path.iterdir():
        leftover.unlink()
    manager.remove()
    assert not manager.exists()


def test_shares_to_weight_matches_runc() -> None:
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000


def test_freeze_and_thaw_v1_and_v2(tmp_path: Path) -> None:
    v1_manager = V1Manager("c1", fake_v1(tmp_path / "v1"))
    v1_manager.create()
    v1_manager.freeze()  # a fake freezer.state reads back what was written
    assert (v1_manager.path("freezer") / "freezer.state").read_text() == "FROZEN"
    v1_manager.thaw()
    assert (v1_manager.path("freezer") / "freezer.state").read_text() == "THAWED"
    v2_manager = V2Manager("c2", fake_v2(tmp_path / "v2"))
    v2_manager.create()
    (v2_manager.path / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    v2_manager.freeze()
    assert (v2_manager.path / "cgroup.freeze").read_text() == "1"
    v2_manager.thaw()
    assert (v2_manager.path / "cgroup.freeze").read_text() == "0"


def test_the_shared_parent_goes_with_the_last_cgroup(tmp_path: Path) -> None:
    root = fake_v2(tmp_path)
    first, second = V2Manager("c1", root), V2Manager("c2", root)
    first.create()
    second.create()
    first.remove()
    assert (root / "stackr").is_dir()  # c2 still needs it
    second.remove()
    assert not (root / "stackr").exists()
    first.create()  # made again from nothing
    assert first.exists()


def test_v1_shared_parents_go_with_the_last_cgroup_of_each_hierarchy(tmp_path: Path) -> None:
    root = fake_v1(tmp_path)
    first, second = V1Manager("c1", root), V1Manager("c2", root)
    first.create()
    second.create()
    # The kernel's control files do not keep a cgroup from going; the fake tree's would.
    for path in root.glob("*/stackr/**/*"):
        if path.is_file():
            path.unlink()
    first.remove()
    assert all((root / controller / "stackr" / "c2").is_dir() for controller in V1_CONTROLLERS)
    second.remove()
    assert not any((root / controller / "stackr").exists() for controller in V1_CONTROLLERS)
