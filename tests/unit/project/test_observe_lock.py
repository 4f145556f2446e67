"""Observation from engine answers, and the per-project lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from stackr.graph import ResourceId
from stackr.naming import LABEL_PROJECT
from stackr.plan import DownOptions, OpType, teardown
from stackr.project import names
from stackr.project.lock import ProjectLockedError, project_lock
from stackr.project.observe import observe
from tests.unit.project.fake_engine import FakeEngine

API = ResourceId("service", "api", 1)
NET = ResourceId("network", "back")
VOL = ResourceId("volume", "data")


def labels_for(resource: ResourceId, needs: tuple[ResourceId, ...] = ()) -> dict[str, str]:
    return names.resource_labels("p", resource, {"environment": {"A": "1"}}, "sha256:h", needs)


def engine_with_project() -> FakeEngine:
    engine = FakeEngine()
    engine.container_create({"Labels": labels_for(API, (NET, VOL))}, "p-api-1")
    engine.container_start("id-p-api-1")
    engine.container_create({"Labels": {LABEL_PROJECT: "p", "io.stackr.oneoff": "1"}}, "x")
    engine.networks_list = [{"Name": "p_back", "Labels": labels_for(NET)}]
    engine.volumes_list = [{"Name": "p_data", "Labels": labels_for(VOL)}]
    return engine


def test_observe_reads_labels_back() -> None:
    observation = observe(engine_with_project(), "p")
    assert set(observation.resources) == {API, NET, VOL}  # the one-off is not a replica
    api = observation.resources[API]
    assert api.running and api.config_hash == "sha256:h"
    assert api.config == {"environment": {"A": "1"}}
    assert api.needs == (NET, VOL)
    assert observation.handles == {API: "id-p-api-1", NET: "p_back", VOL: "p_data"}
    assert observation.display_names()[API] == "p-api-1"


def test_down_plan_from_records_alone() -> None:
    observation = observe(engine_with_project(), "p")
    plan = teardown(observation.resources, DownOptions())
    ops = [(op.op, op.resource) for op in plan.operations]
    assert ops == [(OpType.STOP_CONTAINER, API), (OpType.REMOVE_CONTAINER, API),
                   (OpType.REMOVE_NETWORK, NET)]  # the volume is kept without -v
    with_volumes = teardown(observation.resources, DownOptions(remove_volumes=True))
    assert (OpType.REMOVE_VOLUME, VOL) in [(op.op, op.resource) for op in with_volumes.operations]


def test_a_second_lock_holder_waits_then_fails(stackr_dirs: tuple[Path, Path]) -> None:
    messages: list[str] = []
    with (
        project_lock("p"),
        pytest.raises(ProjectLockedError) as caught,
        project_lock("p", wait_seconds=0.2, on_wait=messages.append),
    ):
        pass
    assert caught.value.exit_code == 4
    assert messages and "waiting for another stackr command on project p" in messages[0]
    with project_lock("other", wait_seconds=0):  # other projects are not blocked
        pass


def test_the_lock_is_taken_once_released(stackr_dirs: tuple[Path, Path]) -> None:
    released = threading.Event()
    acquired = threading.Event()

    def holder() -> None:
        with project_lock("p"):
            acquired.set()
            released.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    acquired.wait(5)
    timer = threading.Timer(0.1, released.set)
    timer.start()
    with project_lock("p", wait_seconds=5):
        pass
    thread.join()
