"""The stack graph: what needs what, start order, cycles with their positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackr.config.pipeline import load_stack
from stackr.config.project import LoadOptions
from stackr.errors import StackFileError
from stackr.graph import ResourceId, StackGraph, build_graph, graph_from_needs


def load(tmp_path: Path, text: str) -> tuple[object, object]:
    (tmp_path / "compose.yaml").write_text(text)
    loaded = load_stack(LoadOptions(cwd=tmp_path, environ={}))
    return loaded.stack, loaded.raw.source_map


WEBAPP = """\
name: shop
services:
  web:
    image: nginx
    depends_on: {api: {condition: service_started}}
    networks: [front]
  api:
    build: .
    deploy: {replicas: 2}
    depends_on: {db: {condition: service_healthy}}
    networks: [front, back]
  db:
    image: postgres
    volumes: [pgdata:/var/lib/postgresql/data]
    networks: [back]
  sidecar:
    image: busybox
    network_mode: service:db
networks: {front: {}, back: {}}
volumes: {pgdata: {}}
"""


def test_generations_give_the_parallel_start_order(tmp_path: Path) -> None:
    stack, source_map = load(tmp_path, WEBAPP)
    graph = build_graph(stack, source_map)  # type: ignore[arg-type]
    assert [[str(r) for r in generation] for generation in graph.start_generations()] == [
        [
            "image:busybox",
            "image:nginx",
            "image:postgres",
            "image:shop-api",
            "network:back",
            "network:front",
            "volume:pgdata",
        ],
        ["service:db:1"],
        ["service:api:1", "service:api:2", "service:sidecar:1"],
        ["service:web:1"],
    ]
    teardown = graph.teardown_generations()
    assert [str(r) for r in teardown[0]] == ["service:web:1"]


def test_every_replica_of_a_dependency_is_needed(tmp_path: Path) -> None:
    stack, source_map = load(tmp_path, WEBAPP)
    graph = build_graph(stack, source_map)  # type: ignore[arg-type]
    needs = graph.needs_of(ResourceId("service", "web", 1))
    assert (ResourceId("service", "api", 1), "depends_on (service_started)") in needs
    assert (ResourceId("service", "api", 2), "depends_on (service_started)") in needs
    sidecar_needs = graph.needs_of(ResourceId("service", "sidecar", 1))
    assert (ResourceId("service", "db", 1), "network_mode") in sidecar_needs


def test_a_cycle_names_every_edge_and_where_it_is_declared(tmp_path: Path) -> None:
    text = """\
services:
  a:
    image: x
    depends_on: [b]
  b:
    image: x
    links: [c]
  c:
    image: x
    volumes_from: [a]
"""
    (tmp_path / "compose.yaml").write_text(text)
    loaded = load_stack(LoadOptions(cwd=tmp_path, environ={}))
    with pytest.raises(StackFileError) as error:
        build_graph(loaded.stack, loaded.raw.source_map)
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.message.startswith("dependency cycle: a -> b -> c -> a; declared by ")
    assert "a -> b (services.a.depends_on.b at " in diagnostic.message
    assert "b -> c (services.b.links at " in diagnostic.message
    assert "c -> a (services.c.volumes_from at " in diagnostic.message
    assert diagnostic.location is not None and diagnostic.location.line == 4


def test_a_service_depending_on_itself_is_refused_at_its_position(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n    depends_on: [a]\n")
    with pytest.raises(StackFileError) as error:
        load_stack(LoadOptions(cwd=tmp_path, environ={}))
    assert error.value.diagnostics[0].render() == (
        "compose.yaml:4:18: services.a.depends_on.a: depends on itself"
    )


def test_graph_from_records_orders_teardown_without_a_stack_file() -> None:
    net = ResourceId("network", "n")
    db = ResourceId("service", "db", 1)
    web = ResourceId("service", "web", 1)
    graph = graph_from_needs({net: (), db: (net,), web: (db, net)})
    assert graph.teardown_generations() == [[web], [db], [net]]


def test_graph_from_records_survives_an_edited_in_cycle() -> None:
    a = ResourceId("service", "a", 1)
    b = ResourceId("service", "b", 1)
    graph = graph_from_needs({a: (b,), b: (a,)})
    assert sorted(r for generation in graph.teardown_generations() for r in generation) == [a, b]


@settings(deadline=None)  # the first example pays for networkx's import
@given(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=40),
       st.sets(st.integers(0, 11)))
def test_generations_match_networkx(pairs: list[tuple[int, int]], lone: set[int]) -> None:
    # Random DAGs (an edge always goes from a lower to a higher number) with lone nodes:
    # the hand-written Kahn layers are networkx's topological generations.
    import networkx as nx

    def node(number: int) -> ResourceId:
        return ResourceId("service", f"s{number:02d}", 1)

    edges = [(node(min(a, b)), node(max(a, b)), "depends_on") for a, b in pairs if a != b]
    graph = StackGraph.from_edges(edges, nodes=[node(n) for n in lone])
    reference = graph.to_networkx()
    assert graph.start_generations() == [
        sorted(generation) for generation in nx.topological_generations(reference)
    ]
    assert sorted(reference.nodes) == graph.resources()
    for resource in graph.resources():
        assert [needed for needed, _ in graph.needs_of(resource)] == sorted(
            reference.predecessors(resource))
