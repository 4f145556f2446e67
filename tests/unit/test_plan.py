"""The planner, driven with literal desired and observed state (compose's reconcile_test)."""

from __future__ import annotations

from stackr.graph import ResourceId, StackGraph
from stackr.plan import (
    DesiredResource,
    DownOptions,
    ObservedResource,
    UpOptions,
    reconcile,
    teardown,
)

NET = ResourceId("network", "back")
VOL = ResourceId("volume", "data")
DB = ResourceId("service", "db", 1)
API = ResourceId("service", "api", 1)
SIDECAR = ResourceId("service", "sidecar", 1)


def make_graph(edges: list[tuple[ResourceId, ResourceId, str]]) -> StackGraph:
    return StackGraph.from_edges(edges)


STACK = make_graph(
    [
        (NET, DB, "network"),
        (VOL, DB, "volume"),
        (NET, API, "network"),
        (DB, API, "depends_on (service_healthy)"),
        (API, SIDECAR, "network_mode"),
    ]
)


def desired(**overrides: dict[str, str]) -> dict[ResourceId, DesiredResource]:
    configs = {
        NET: {"driver": "bridge"},
        VOL: {"driver": "local"},
        DB: {"image_id": "sha256:1", "environment": {"A": "1"}},
        API: {"image_id": "sha256:2", "command": ["api"]},
        SIDECAR: {"image_id": "sha256:3"},
    }
    for name, config in overrides.items():
        resource = {"db": DB, "api": API, "sidecar": SIDECAR, "back": NET, "data": VOL}[name]
        configs[resource] = {**configs[resource], **config}
    return {r: DesiredResource(r, c, repr(sorted(c.items()))) for r, c in configs.items()}


def observed_from(
    wanted: dict[ResourceId, DesiredResource], running: bool = True
) -> dict[ResourceId, ObservedResource]:
    return {
        r: ObservedResource(r, d.config, d.config_hash, running=running) for r, d in wanted.items()
    }


def test_empty_host_creates_everything_in_dependency_waves() -> None:
    plan = reconcile(STACK, desired(), {})
    assert plan.render() == "\n".join(
        [
            " 0  CREATE_NETWORK    network:back       (new)",
            " 0  CREATE_VOLUME     volume:data        (new)",
            " 1  CREATE_CONTAINER  service:api:1      (new)",
            " 1  CREATE_CONTAINER  service:db:1       (new)",
            " 1  START_CONTAINER   service:db:1       (new)",
            " 2  START_CONTAINER   service:api:1      (new)",
            # network_mode: api's namespaces are joined at create, so after api's start
            " 3  CREATE_CONTAINER  service:sidecar:1  (new)",
            " 3  START_CONTAINER   service:sidecar:1  (new)",
        ]
    )


def test_second_up_with_nothing_changed_is_empty() -> None:
    wanted = desired()
    plan = reconcile(STACK, wanted, observed_from(wanted))
    assert plan.is_empty()
    assert plan.render() == "nothing to do: the host matches the stack"


def test_changed_environment_recreates_only_that_service() -> None:
    before = observed_from(desired())
    plan = reconcile(STACK, desired(db={"environment": {"A": "2"}}), before)
    assert [(op.op.name, str(op.resource), op.cause) for op in plan.operations] == [
        ("STOP_CONTAINER", "service:db:1", "environment changed"),
        ("REMOVE_CONTAINER", "service:db:1", "environment changed"),
        ("CREATE_CONTAINER", "service:db:1", "environment changed"),
        ("START_CONTAINER", "service:db:1", "environment changed"),
    ]


def test_changed_image_says_so() -> None:
    before = observed_from(desired())
    plan = reconcile(STACK, desired(api={"image_id": "sha256:new"}), before)
    causes = {op.cause for op in plan.operations if op.resource == API}
    assert causes == {"image changed"}


def test_network_mode_child_follows_its_recreated_parent() -> None:
    before = observed_from(desired())
    plan = reconcile(STACK, desired(api={"command": ["api", "-v"]}), before)
    touched = {str(op.resource): op.cause for op in plan.operations}
    assert touched == {
        "service:api:1": "command changed",
        "service:sidecar:1": "service:api:1 recreated (network_mode)",
    }
    removal = [op for op in plan.operations if op.op.name == "REMOVE_CONTAINER"]
    assert [str(op.resource) for op in removal] == ["service:sidecar:1", "service:api:1"]


def test_recreated_network_takes_its_containers_along() -> None:
    before = observed_from(desired())
    plan = reconcile(STACK, desired(back={"internal": True}), before)
    recreated = sorted({str(op.resource) for op in plan.operations})
    assert recreated == ["network:back", "service:api:1", "service:db:1", "service:sidecar:1"]
    ops = [(op.op.name, str(op.resource)) for op in plan.operations]
    assert ops.index(("REMOVE_CONTAINER", "service:db:1")) < ops.index(
        ("REMOVE_NETWORK", "network:back")
    )
    assert ops.index(("CREATE_NETWORK", "network:back")) < ops.index(
        ("CREATE_CONTAINER", "service:db:1")
    )


def test_changed_volume_is_kept_with_a_warning() -> None:
    before = observed_from(desired())
    plan = reconcile(STACK, desired(data={"driver_opts": "x"}), before)
    assert plan.is_empty()
    assert "volume:data" in plan.warnings[0] and "down -v" in plan.warnings[0]


def test_stopped_container_is_started() -> None:
    wanted = desired()
    before = observed_from(wanted)
    before[DB] = ObservedResource(DB, wanted[DB].config, wanted[DB].config_hash, running=False)
    plan = reconcile(STACK, wanted, before)
    assert [(op.op.name, str(op.resource), op.cause) for op in plan.operations] == [
        ("START_CONTAINER", "service:db:1", "not running")
    ]


def test_force_recreate_and_no_recreate() -> None:
    wanted = desired()
    forced = reconcile(STACK, wanted, observed_from(wanted), UpOptions(force_recreate=True))
    assert {op.cause for op in forced.operations} == {"forced by --force-recreate"}
    changed = desired(db={"environment": {"A": "9"}})
    kept = reconcile(STACK, changed, observed_from(wanted), UpOptions(no_recreate=True))
    assert kept.is_empty()


def test_orphans_are_reported_and_removed_only_when_asked() -> None:
    wanted = desired()
    old = ResourceId("service", "old", 1)
    before = {**observed_from(wanted), old: ObservedResource(old, {}, "h")}
    warned = reconcile(STACK, wanted, before)
    assert warned.is_empty()
    assert "orphan service(s) old" in warned.warnings[0]
    removed = reconcile(STACK, wanted, before, UpOptions(remove_orphans=True))
    assert [(op.op.name, op.cause) for op in removed.operations] == [
        ("STOP_CONTAINER", "orphan"),
        ("REMOVE_CONTAINER", "orphan"),
    ]


def test_scaled_down_replicas_are_removed() -> None:
    wanted = desired()
    extra = ResourceId("service", "db", 2)
    before = {**observed_from(wanted), extra: ObservedResource(extra, {}, "h")}
    plan = reconcile(STACK, wanted, before)
    assert [(str(op.resource), op.cause) for op in plan.operations] == [
        ("service:db:2", "scaled down"),
        ("service:db:2", "scaled down"),
    ]


def test_up_selected_service_brings_only_it_and_its_dependencies() -> None:
    plan = reconcile(STACK, desired(), {}, UpOptions(services=("db",)))
    assert sorted({str(op.resource) for op in plan.operations}) == [
        "network:back",
        "service:db:1",
        "volume:data",
    ]


def test_no_start_only_creates() -> None:
    plan = reconcile(STACK, desired(), {}, UpOptions(no_start=True))
    assert "START_CONTAINER" not in {op.op.name for op in plan.operations}


def test_external_resources_are_never_touched() -> None:
    wanted = desired(back={"internal": True})
    before = observed_from(desired())
    before[NET] = ObservedResource(NET, {}, "other", external=True)
    plan = reconcile(STACK, wanted, before)
    assert "network:back" not in {str(op.resource) for op in plan.operations}


def test_down_removes_dependants_first_and_keeps_volumes() -> None:
    recorded = {
        NET: ObservedResource(NET, {}, "h"),
        VOL: ObservedResource(VOL, {}, "h"),
        DB: ObservedResource(DB, {}, "h", needs=(NET, VOL)),
        API: ObservedResource(API, {}, "h", running=False, needs=(NET, DB)),
    }
    plan = teardown(recorded)
    assert plan.render() == "\n".join(
        [
            " 0  REMOVE_CONTAINER  service:api:1  (down)",
            " 0  STOP_CONTAINER    service:db:1   (down)",
            " 0  REMOVE_CONTAINER  service:db:1   (down)",
            " 1  REMOVE_NETWORK    network:back   (down)",
        ]
    )
    with_volumes = teardown(recorded, DownOptions(remove_volumes=True))
    assert "REMOVE_VOLUME" in with_volumes.render()


def test_down_of_nothing_is_empty() -> None:
    assert teardown({}).is_empty()


def test_no_deps_touches_only_the_named_services() -> None:
    plan = reconcile(STACK, desired(), {}, UpOptions(services=("api",), no_deps=True))
    touched = {str(op.resource) for op in plan.operations}
    assert touched == {"network:back", "service:api:1"}
    with_deps = reconcile(STACK, desired(), {}, UpOptions(services=("api",)))
    assert "service:db:1" in {str(op.resource) for op in with_deps.operations}


def test_depends_on_restart_restarts_the_dependant() -> None:
    before = observed_from(desired())
    options = UpOptions(restart_dependants=frozenset({("db", "api")}))
    plan = reconcile(STACK, desired(db={"environment": {"A": "2"}}), before, options)
    restarts = [(str(op.resource), op.cause) for op in plan.operations
                if op.op.name == "RESTART_CONTAINER"]
    assert restarts == [("service:api:1", "service:db:1 recreated (depends_on restart)")]
    without = reconcile(STACK, desired(db={"environment": {"A": "2"}}), before)
    assert not [op for op in without.operations if op.op.name == "RESTART_CONTAINER"]


def test_lifecycle_orders_stop_and_start_by_the_records() -> None:
    from stackr.plan import lifecycle

    records = {
        DB: ObservedResource(DB, {}, "h", running=True, needs=(NET,)),
        API: ObservedResource(API, {}, "h", running=True, needs=(DB, NET)),
        NET: ObservedResource(NET, {}, "h"),
    }
    stop = lifecycle(records, "stop")
    assert [(op.op.name, str(op.resource), op.wave) for op in stop.operations] == [
        ("STOP_CONTAINER", "service:api:1", 0), ("STOP_CONTAINER", "service:db:1", 1)]
    stopped = {r: ObservedResource(r, {}, "h", running=False, needs=o.needs)
               for r, o in records.items()}
    start = lifecycle(stopped, "start", ("db",))
    assert [(op.op.name, str(op.resource)) for op in start.operations] == [
        ("START_CONTAINER", "service:db:1")]


def test_needs_only_brings_what_a_service_needs_but_not_itself() -> None:
    plan = reconcile(STACK, desired(), {}, UpOptions(services=("api",), needs_only=True))
    assert sorted({str(op.resource) for op in plan.operations}) == [
        "network:back",
        "service:db:1",
        "volume:data",
    ]
    alone = reconcile(
        STACK, desired(), {}, UpOptions(services=("api",), needs_only=True, no_deps=True)
    )
    assert sorted({str(op.resource) for op in alone.operations}) == ["network:back"]


def test_renew_anon_volumes_makes_a_recreated_containers_anonymous_volumes_again() -> None:
    anon = ResourceId("volume", "db-1-anon-0123456789ab")
    graph = make_graph([(anon, DB, "volume"), (VOL, DB, "volume"), (DB, API, "depends_on")])
    before = {r: d for r, d in desired().items() if r in (VOL, DB, API)}
    before[anon] = DesiredResource(anon, {"anonymous": True}, "anon")
    observed = observed_from(before)
    changed = {**before, DB: DesiredResource(DB, {"image_id": "sha256:9"}, "new")}
    kept = reconcile(graph, changed, observed)
    assert [(op.op.name, str(op.resource)) for op in kept.operations if op.resource == anon] \
        == []  # the data survives a recreate, as in Compose
    renewed = reconcile(graph, changed, observed, UpOptions(renew_anon_volumes=True))
    ops = [(op.wave, op.op.name, str(op.resource)) for op in renewed.operations]
    remove_container = next(w for w, name, r in ops if name == "REMOVE_CONTAINER")
    remove_volume = next(w for w, name, r in ops if name == "REMOVE_VOLUME")
    create_volume = next(w for w, name, r in ops if name == "CREATE_VOLUME")
    create_container = next(w for w, name, r in ops if name == "CREATE_CONTAINER")
    assert remove_container < remove_volume < create_volume < create_container
    assert {r for _, _, r in ops} == {str(DB), str(anon)}  # the named volume is kept
    assert reconcile(graph, before, observed, UpOptions(renew_anon_volumes=True)).is_empty()
