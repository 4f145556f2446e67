"""The cgroup managers on this host's real hierarchy (v1 here; v2 where the host has it)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from stackr.cgroups import CgroupSetup, detect_setup, open_manager
from stackr.runtime.spec import Resources

pytestmark = pytest.mark.timeout(60)


def _require(setups: tuple[CgroupSetup, ...]) -> None:
    setup = detect_setup()
    if setup not in setups:
        pytest.skip(
            f"this host's cgroups are {setup.value}, not {'/'.join(s.value for s in setups)}"
        )


@pytest.mark.parametrize(
    "setups",
    [(CgroupSetup.LEGACY, CgroupSetup.HYBRID), (CgroupSetup.UNIFIED,)],
    ids=["v1", "v2"],
)
def test_limits_membership_stats_kill_and_remove(setups: tuple[CgroupSetup, ...]) -> None:
    _require(setups)
    manager = open_manager(f"live-{uuid.uuid4().hex[:8]}")
    manager.create()
    sleeper = None
    try:
        manager.apply(Resources(memory=64 << 20, cpus=0.5, pids_limit=20))
        sleeper = subprocess.Popen(["sleep", "60"])
        manager.add_pid(sleeper.pid)
        assert manager.pids() == [sleeper.pid]
        stats = manager.stats()
        assert stats.memory_limit == 64 << 20
        assert stats.pids_limit == 20 and stats.pids_current == 1
        assert stats.oom_kills == 0
        manager.freeze()
        manager.thaw()
        manager.kill_all()
        assert sleeper.wait(10) == -9
        assert manager.pids() == []
    finally:
        if sleeper is not None and sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        manager.remove()
    assert not manager.exists()
