"""The executor against a fake engine: order, parallel waves, waits, failure reports."""

from __future__ import annotations

from typing import Any

import pytest

from stackr.graph import ResourceId
from stackr.plan import Operation, OpType, Plan
from stackr.project.apply import NEXT_STEP, ApplyFailed, Executor, Progress, Requests
from stackr.project.desired import DependencyWait
from tests.unit.project.fake_engine import FakeEngine, JsonObject

NET = ResourceId("network", "back")
VOL = ResourceId("volume", "data")
DB = ResourceId("service", "db", 1)
API = ResourceId("service", "api", 1)
JOB = ResourceId("service", "job", 1)


def plan_of(*waves: list[tuple[OpType, ResourceId]]) -> Plan:
    return Plan(tuple(Operation(op, resource, "new", index)
                      for index, wave in enumerate(waves) for op, resource in wave))


def requests(**waits: tuple[DependencyWait, ...]) -> Requests:
    names = {DB: "p-db-1", API: "p-api-1", JOB: "p-job-1"}
    return Requests(
        container_bodies={r: (n, {"Image": "busybox"}) for r, n in names.items()},
        network_bodies={NET: {"Name": "p_back"}},
        volume_bodies={VOL: {"Name": "p_data", "Labels": {}}},
        waits={API: waits.get("api", ())},
        wait_names=names,
    )


UP = plan_of(
    [(OpType.CREATE_NETWORK, NET), (OpType.CREATE_VOLUME, VOL)],
    [(OpType.CREATE_CONTAINER, DB), (OpType.START_CONTAINER, DB)],
    [(OpType.CREATE_CONTAINER, API), (OpType.START_CONTAINER, API)],
)


def test_runs_waves_in_order_and_reports_progress() -> None:
    engine = FakeEngine()
    events: list[Progress] = []
    created = Executor(engine, requests(), events.append).run(UP)
    assert created == {DB: "id-p-db-1", API: "id-p-api-1"}
    assert engine.actions("network_create") == ["p_back"]
    assert engine.actions("volume_create") == ["p_data"]
    assert engine.actions("start") == ["p-db-1", "p-api-1"]
    assert [(e.name, e.state) for e in events if e.resource == API] == [
        ("p-api-1", "Creating"), ("p-api-1", "Created"),
        ("p-api-1", "Starting"), ("p-api-1", "Started")]


def test_waits_for_healthy_before_starting_the_dependant() -> None:
    engine = FakeEngine()
    engine.health_script["p-db-1"] = ["starting", "starting", "healthy"]
    wait = DependencyWait(DB, "service_healthy")
    Executor(engine, requests(api=(wait,))).run(UP)
    assert engine.actions("start") == ["p-db-1", "p-api-1"]
    assert engine.health_script["p-db-1"] == ["healthy"]  # polled until healthy


def test_an_unhealthy_dependency_fails_with_its_logs_and_stops_the_plan() -> None:
    engine = FakeEngine()
    engine.health_script["p-db-1"] = ["starting", "unhealthy"]
    engine.logs["p-db-1"] = ["connecting\n", "disk full\n"]
    wait = DependencyWait(DB, "service_healthy")
    with pytest.raises(ApplyFailed) as caught:
        Executor(engine, requests(api=(wait,))).run(UP)
    message = str(caught.value)
    assert "service:api:1" in message and "is unhealthy" in message and "disk full" in message
    assert NEXT_STEP in message
    assert engine.actions("start") == ["p-db-1"]
    assert caught.value.done == 5 and caught.value.pending == 1


def test_a_failed_job_fails_its_dependants() -> None:
    engine = FakeEngine()
    engine.exit_codes["p-job-1"] = 2
    engine.logs["p-job-1"] = ["migration failed\n"]
    plan = plan_of(
        [(OpType.CREATE_CONTAINER, JOB), (OpType.START_CONTAINER, JOB)],
        [(OpType.CREATE_CONTAINER, API), (OpType.START_CONTAINER, API)],
    )
    wait = DependencyWait(JOB, "service_completed_successfully")
    with pytest.raises(ApplyFailed, match=r"exited with code 2(.|\n)*migration failed"):
        Executor(engine, requests(api=(wait,))).run(plan)
    assert "p-api-1" not in engine.actions("start")


def test_an_optional_dependency_that_fails_is_a_warning() -> None:
    engine = FakeEngine()
    engine.exit_codes["p-job-1"] = 1
    plan = plan_of(
        [(OpType.CREATE_CONTAINER, JOB), (OpType.START_CONTAINER, JOB)],
        [(OpType.CREATE_CONTAINER, API), (OpType.START_CONTAINER, API)],
    )
    events: list[Progress] = []
    wait = DependencyWait(JOB, "service_completed_successfully", required=False)
    Executor(engine, requests(api=(wait,)), events.append).run(plan)
    assert engine.actions("start") == ["p-job-1", "p-api-1"]
    assert any(e.state == "Warning" and "optional dependency job" in e.detail for e in events)


def test_a_failing_start_stops_scheduling_later_waves() -> None:
    engine = FakeEngine()
    engine.fail_start.add("p-db-1")
    with pytest.raises(ApplyFailed, match="service:db:1: start container failed") as caught:
        Executor(engine, requests()).run(UP)
    assert engine.actions("create") == ["p-db-1"]  # api's wave never ran
    assert caught.value.pending == 3


def running_down(engine: FakeEngine) -> tuple[Plan, dict[ResourceId, str]]:
    """db and api running on the engine; down's plan of them and the handles it uses."""
    for name in ("p-db-1", "p-api-1"):
        engine.container_create({}, name)
        engine.container_start(f"id-{name}")
    plan = plan_of(
        [(OpType.STOP_CONTAINER, API), (OpType.REMOVE_CONTAINER, API)],
        [(OpType.STOP_CONTAINER, DB), (OpType.REMOVE_CONTAINER, DB)],
        [(OpType.REMOVE_NETWORK, NET)],
    )
    return plan, {API: "id-p-api-1", DB: "id-p-db-1", NET: "p_back"}


def test_down_shares_one_grace_period_and_uses_handles() -> None:
    engine = FakeEngine()
    plan, handles = running_down(engine)
    Executor(engine, Requests(handles=handles, stop_timeout=5)).run(plan)
    stops = engine.actions("stop")
    assert [s.split()[0] for s in stops] == ["p-api-1", "p-db-1"]
    assert all(int(s.split("t=")[1]) <= 5 for s in stops)
    assert engine.actions("remove") == ["p-api-1", "p-db-1"]
    assert engine.actions("network_remove") == ["p_back"]
    assert engine.containers_by_name == {}


def test_down_removes_a_container_beside_the_next_stop() -> None:
    import threading

    class SlowRemoval(FakeEngine):
        """api's removal lasts until db's stop has begun: it must not hold db's wave."""

        def __init__(self) -> None:
            super().__init__()
            self.db_stopping = threading.Event()

        def container_stop(self, container: str, timeout: float | None = None) -> None:
            if container == "id-p-db-1":
                self.db_stopping.set()
            super().container_stop(container, timeout)

        def container_remove(self, container: str, force: bool = False,
                             volumes: bool = False) -> None:
            if container == "id-p-api-1":
                assert self.db_stopping.wait(5), "api's removal held up db's stop"
            super().container_remove(container, force, volumes)

    engine = SlowRemoval()
    plan, handles = running_down(engine)
    Executor(engine, Requests(handles=handles),
             detach=frozenset({OpType.REMOVE_CONTAINER})).run(plan)
    assert [s.split()[0] for s in engine.actions("stop")] == ["p-api-1", "p-db-1"]
    assert sorted(engine.actions("remove")) == ["p-api-1", "p-db-1"]
    # the network goes once both containers have stopped
    assert engine.calls.index(("network_remove", "p_back")) > \
        engine.calls.index(("stop", "p-db-1 t=None"))
    assert engine.containers_by_name == {}


def test_down_removes_a_network_beside_the_last_removals_but_a_volume_after() -> None:
    import threading

    class SlowRemoval(FakeEngine):
        """db's removal lasts until the network's removal has begun."""

        def __init__(self) -> None:
            super().__init__()
            self.network_going = threading.Event()
            self.db_removed = False

        def container_remove(self, container: str, force: bool = False,
                             volumes: bool = False) -> None:
            if container == "id-p-db-1":
                assert self.network_going.wait(5), "db's removal held up the network's"
            super().container_remove(container, force, volumes)
            self.db_removed = container == "id-p-db-1" or self.db_removed

        def request(self, method: str, path: str, body: Any = None) -> Any:
            if method == "DELETE" and path.startswith("/networks/"):
                self.network_going.set()
            return super().request(method, path, body)

        def volume_remove(self, name: str, force: bool = False) -> None:
            assert self.db_removed, "the volume went while db still used it"
            super().volume_remove(name, force)

    engine = SlowRemoval()
    plan, handles = running_down(engine)
    plan = Plan((*plan.operations, Operation(OpType.REMOVE_VOLUME, VOL, "down", 2)))
    Executor(engine, Requests(handles={**handles, VOL: "p_data"}),
             detach=frozenset({OpType.REMOVE_CONTAINER})).run(plan)
    assert engine.actions("network_remove") == ["p_back"]
    assert engine.actions("volume_remove") == ["p_data"]


def test_a_network_refused_beside_the_removals_is_asked_again_after_them() -> None:
    from stackr.client import EngineConflictError

    class Refusing(FakeEngine):
        """Refuses the network's removal while a container is left."""

        def request(self, method: str, path: str, body: Any = None) -> Any:
            if method == "DELETE" and path.startswith("/networks/") and self.containers_by_name:
                self._call("network_refused", path.rsplit("/", 1)[1])
                raise EngineConflictError(409, "network p_back: container db is running on it")
            return super().request(method, path, body)

        def container_remove(self, container: str, force: bool = False,
                             volumes: bool = False) -> None:
            if container == "id-p-db-1":
                import time

                time.sleep(0.2)  # still under way when the network's turn comes
            super().container_remove(container, force, volumes)

    engine = Refusing()
    plan, handles = running_down(engine)
    Executor(engine, Requests(handles=handles),
             detach=frozenset({OpType.REMOVE_CONTAINER})).run(plan)
    assert engine.actions("network_refused") == ["p_back"]
    assert engine.actions("network_remove") == ["p_back"]
    assert engine.containers_by_name == {}


def test_up_starts_a_chain_beside_the_creations_it_does_not_need() -> None:
    import threading

    class SlowCreation(FakeEngine):
        """job's creation lasts until api has started: it must not hold api's wave."""

        def __init__(self) -> None:
            super().__init__()
            self.api_started = threading.Event()

        def container_start(self, container: str) -> None:
            assert container != "id-p-api-1" or "p-api-1" in self.containers_by_name
            super().container_start(container)
            if container == "id-p-api-1":
                self.api_started.set()

        def container_create(self, config: JsonObject, name: str | None = None) -> str:
            if name == "p-job-1":
                assert self.api_started.wait(5), "job's creation held up api's start"
            return super().container_create(config, name)

    engine = SlowCreation()
    plan = plan_of(
        [(OpType.CREATE_CONTAINER, DB), (OpType.START_CONTAINER, DB),
         (OpType.CREATE_CONTAINER, API), (OpType.CREATE_CONTAINER, JOB)],
        [(OpType.START_CONTAINER, API)],
        [(OpType.START_CONTAINER, JOB)],
    )
    created = Executor(engine, requests(), detach=frozenset({OpType.CREATE_CONTAINER})).run(plan)
    assert set(created) == {DB, API, JOB}
    assert engine.actions("start") == ["p-db-1", "p-api-1", "p-job-1"]


def test_detached_creations_go_in_the_order_the_chain_needs_them() -> None:
    # A wave lists resources by name (svc1, svc10, svc2); the chain starts svc1, then
    # svc2, then svc10: their creations reach the engine in that order.
    chain = [ResourceId("service", name, 1) for name in ("svc1", "svc2", "svc10")]
    engine = FakeEngine()
    plan = Plan(
        tuple(Operation(OpType.CREATE_CONTAINER, r, "new", 0) for r in sorted(chain))
        + tuple(Operation(OpType.START_CONTAINER, r, "new", i + 1) for i, r in enumerate(chain))
    )
    bodies = {r: (f"p-{r.name}-1", {"Image": "busybox"}) for r in chain}
    Executor(engine, Requests(container_bodies=bodies), workers=1,
             detach=frozenset({OpType.CREATE_CONTAINER})).run(plan)
    assert engine.actions("create") == ["p-svc1-1", "p-svc2-1", "p-svc10-1"]
    assert engine.actions("start") == ["p-svc1-1", "p-svc2-1", "p-svc10-1"]


def test_ctrl_c_interrupts_a_wait_and_leaves_no_thread_behind() -> None:
    import os
    import signal
    import threading

    engine = FakeEngine()
    engine.health_script["p-db-1"] = ["starting"]  # never healthy
    wait = DependencyWait(DB, "service_healthy")
    # A real SIGINT, as Ctrl-C sends (it interrupts a blocked wait; interrupt_main not).
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        Executor(engine, requests(api=(wait,))).run(UP)
    assert not [t for t in threading.enumerate() if t.name.startswith("apply")]
    assert "p-api-1" not in engine.actions("start")
