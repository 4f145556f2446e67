"""The stack's resources and what needs what: one ``networkx.DiGraph``.

Nodes are resource ids: ``network:NAME``, ``volume:NAME``, ``image:REF`` and one
``service:NAME:N`` per replica. An edge ``a → b`` means "b needs a": a must exist (be
started) before b, and b must go before a is taken down. So a topological order is the
start order, its reverse the teardown order, and each topological generation is a set
of resources that can be made in parallel.

Edges come from ``depends_on``, ``links``, network and volume use, the image,
``network_mode: service:x`` and ``volumes_from``. Every edge remembers where it was
declared so that a cycle is reported with the whole path and each edge's position.
The graph itself is a small adjacency structure (``_Dag``), not a ``networkx.DiGraph``:
importing networkx costs 0.2-0.4 s, more than a whole no-op ``up`` may take, and every
``up``/``down``/``watch`` builds a graph; the only algorithms needed are Kahn's
topological generations and a depth-first search. ``to_networkx()`` hands the graph to
networkx for callers that analyse or render it (and the tests check the generations
against networkx's own). Checking references and cycles (all ``stackr config`` needs)
is a plain depth-first search over the services, so validating a file stays fast.
"""

from __future__ import annotations

from stackr.errors import Diagnostic, StackFileError, render_key_path
from stackr.naming import anonymous_volume_key, built_image_name
from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down, ps, logs
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any

    from stackr.config.models import Service, Stack
    from stackr.config.source_map import SourceMap
    from stackr.errors import KeyPath


class ResourceId:
    """``service:web:1``, ``network:front``: a node of the graph, a key of every plan.

    What ``@dataclass(frozen=True, order=True)`` made, written out: it is hashed, compared
    and sorted thousands of times per plan (a generic ``ordered_record`` sorts 5x
    slower), and defining it loads no ``dataclasses``. Immutable; pickled by value.
    """

    __slots__ = ("kind", "name", "replica")
    __match_args__ = ("kind", "name", "replica")

    if TYPE_CHECKING:  # read-only for mypy, as the dataclass's fields were

        @property
        def kind(self) -> str: ...  # "network", "volume", "image", "service"

        @property
        def name(self) -> str: ...

        @property
        def replica(self) -> int: ...  # 1.. for services, 0 for the rest

    def __init__(self, kind: str, name: str, replica: int = 0) -> None:
        set_slot = object.__setattr__  # __setattr__ refuses: frozen
        set_slot(self, "kind", kind)
        set_slot(self, "name", name)
        set_slot(self, "replica", replica)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResourceId):
            return NotImplemented
        return (self.kind, self.name, self.replica) == (other.kind, other.name, other.replica)

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.replica))

    def __lt__(self, other: ResourceId) -> bool:
        if not isinstance(other, ResourceId):
            return NotImplemented
        return (self.kind, self.name, self.replica) < (other.kind, other.name, other.replica)

    def __le__(self, other: ResourceId) -> bool:
        if not isinstance(other, ResourceId):
            return NotImplemented
        return (self.kind, self.name, self.replica) <= (other.kind, other.name, other.replica)

    def __gt__(self, other: ResourceId) -> bool:
        if not isinstance(other, ResourceId):
            return NotImplemented
        return (self.kind, self.name, self.replica) > (other.kind, other.name, other.replica)

    def __ge__(self, other: ResourceId) -> bool:
        if not isinstance(other, ResourceId):
            return NotImplemented
        return (self.kind, self.name, self.replica) >= (other.kind, other.name, other.replica)

    def __setattr__(self, name: str, value: object) -> None:
        from dataclasses import FrozenInstanceError  # only when someone tries

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[type[ResourceId], tuple[str, str, int]]:
        return (ResourceId, (self.kind, self.name, self.replica))

    def __repr__(self) -> str:
        return f"ResourceId(kind={self.kind!r}, name={self.name!r}, replica={self.replica!r})"

    def __str__(self) -> str:
        if self.kind == "service":
            return f"service:{self.name}:{self.replica}"
        return f"{self.kind}:{self.name}"


@frozen_record
class Need:
    """One "needs" relation as declared in the stack file."""

    target: ResourceId  # for services: replica 0 stands for "every replica"
    reason: str  # "depends_on (service_healthy)", "network", "volume", …
    path: KeyPath  # where it is declared


def _service_needs(project_name: str, service_name: str, service: Service) -> list[Need]:
    base: KeyPath = ("services", service_name)
    needs: list[Need] = []
    for dependency_name, dependency in sorted(service.depends_on.items()):
        needs.append(
            Need(
                ResourceId("service", dependency_name),
                f"depends_on ({dependency.condition})",
                (*base, "depends_on", dependency_name),
            )
        )
    for link in service.links:
        needs.append(Need(ResourceId("service", link.service), "links", (*base, "links")))
    # Namespaces of another service's container, joined when this one is built.
    for key, mode in (("network_mode", service.network_mode), ("ipc", service.ipc),
                      ("pid", service.pid)):
        if mode and mode.startswith("service:"):
            needs.append(Need(ResourceId("service", mode.removeprefix("service:")), key,
                              (*base, key)))
    for volume_source in service.volumes_from:
        needs.append(
            Need(
                ResourceId("service", volume_source.service),
                "volumes_from",
                (*base, "volumes_from"),
            )
        )
    for network_name in sorted(service.networks or {}):
        needs.append(
            Need(ResourceId("network", network_name), "network", (*base, "networks", network_name))
        )
    for index, mount in enumerate(service.volumes):
        if mount.type == "volume" and mount.source:
            needs.append(
                Need(ResourceId("volume", mount.source), "volume", (*base, "volumes", index))
            )
    image_ref = image_reference(project_name, service_name, service)
    if image_ref:
        needs.append(Need(ResourceId("image", image_ref), "image", (*base, "image")))
    return needs


def image_reference(project_name: str, service_name: str, service: Service) -> str | None:
    """The image a service runs: its ``image:``, else the name its build produces
    (``<project>-<service>``, as Compose names it)."""
    if service.image:
        return service.image
    if service.build is not None:
        return built_image_name(project_name, service_name)
    return None


def replica_count(service: Service) -> int:
    if service.deploy is not None and service.deploy.replicas is not None:
        return service.deploy.replicas
    if service.scale is not None:
        return service.scale
    return 1


class _Dag:
    """Nodes and "needed → needer" edges, each edge with its reason and declaration path."""

    def __init__(self) -> None:
        self.nodes: set[ResourceId] = set()
        self.edges: dict[tuple[ResourceId, ResourceId], tuple[str, KeyPath]] = {}
        self.predecessors: dict[ResourceId, set[ResourceId]] = {}
        self.successors: dict[ResourceId, set[ResourceId]] = {}

    def add_node(self, node: ResourceId) -> None:
        if node not in self.nodes:
            self.nodes.add(node)
            self.predecessors[node] = set()
            self.successors[node] = set()

    def add_edge(self, needed: ResourceId, needer: ResourceId, reason: str,
                 path: KeyPath) -> None:
        self.add_node(needed)
        self.add_node(needer)
        self.edges[needed, needer] = (reason, path)
        self.predecessors[needer].add(needed)
        self.successors[needed].add(needer)

    def generations(self) -> list[list[ResourceId]]:
        """Kahn's algorithm, one layer at a time (networkx's topological_generations)."""
        waiting = {node: len(needed) for node, needed in self.predecessors.items()}
        layer = sorted(node for node, count in waiting.items() if count == 0)
        layers = []
        while layer:
            layers.append(layer)
            following = set()
            for node in layer:
                for needer in self.successors[node]:
                    waiting[needer] -= 1
                    if waiting[needer] == 0:
                        following.add(needer)
            layer = sorted(following)
        if sum(len(found) for found in layers) != len(self.nodes):
            raise ValueError("the graph has a cycle")  # build_graph refuses cycles first
        return layers


class StackGraph:
    """What needs what, in a stack; build with :func:`build_graph`."""

    def __init__(self, graph: _Dag) -> None:
        # Only the graph: the stack file's positions serve build_graph's errors, and a
        # settled record (which pickles the graph) would carry and read them back for
        # nothing (at 80 services, 3/5 of the graph's bytes and of its unpickling).
        self._graph = graph

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[ResourceId, ResourceId, str]],
                   nodes: Iterable[ResourceId] = ()) -> StackGraph:
        """A graph of (needed, needer, reason) edges and, optionally, lone nodes."""
        graph = _Dag()
        for node in nodes:
            graph.add_node(node)
        for needed, needer, reason in edges:
            graph.add_edge(needed, needer, reason, ())
        return cls(graph)

    def resources(self) -> list[ResourceId]:
        return sorted(self._graph.nodes)

    def needs_of(self, resource: ResourceId) -> list[tuple[ResourceId, str]]:
        """What ``resource`` needs, with the reason, sorted."""
        return sorted(
            (needed, self._graph.edges[needed, resource][0])
            for needed in self._graph.predecessors[resource]
        )

    def needed_by(self, resource: ResourceId) -> list[ResourceId]:
        return sorted(self._graph.successors[resource])

    def start_generations(self) -> list[list[ResourceId]]:
        """Sets of resources that can be created in parallel, in creation order."""
        return self._graph.generations()

    def teardown_generations(self) -> list[list[ResourceId]]:
        return list(reversed(self.start_generations()))

    def edges(self) -> Iterator[tuple[ResourceId, ResourceId, str]]:
        for needed, needer in sorted(self._graph.edges):
            yield needed, needer, self._graph.edges[needed, needer][0]

    def to_networkx(self) -> Any:
        """The graph as a ``networkx.DiGraph`` (edge data: reason, path), for callers
        that render or analyse it."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._graph.nodes)
        for (needed, needer), (reason, path) in self._graph.edges.items():
            graph.add_edge(needed, needer, reason=reason, path=path)
        return graph


def _service_relations(stack: Stack) -> dict[str, list[Need]]:
    """Each service's needs of other services (the only needs that can form a cycle)."""
    return {
        service_name: [
            need
            for need in _service_needs(stack.name, service_name, stack.services[service_name])
            if need.target.kind == "service"
        ]
        for service_name in sorted(stack.services)
    }


def _cycle_diagnostic(
    relations: Mapping[str, list[Need]], source_map: SourceMap | None
) -> Diagnostic | None:
    """The first cycle of a depth-first search in sorted order (so the message is
    reproducible), as one diagnostic naming every edge and where it is declared."""
    done: set[str] = set()  # services from which no cycle can be reached

    def visit(trail_names: list[str], trail_needs: list[Need]) -> list[Need] | None:
        for need in relations[trail_names[-1]]:
            target_name = need.target.name
            if target_name in trail_names:
                return [*trail_needs[trail_names.index(target_name) :], need]
            if target_name not in done:
                found = visit([*trail_names, target_name], [*trail_needs, need])
                if found:
                    return found
        done.add(trail_names[-1])
        return None

    for service_name in sorted(relations):
        if service_name in done:
            continue
        cycle = visit([service_name], [])
        if cycle is None:
            continue
        names = [str(cycle[0].path[1]), *(need.target.name for need in cycle)]
        declared = []
        for need in cycle:
            location = source_map.value(need.path) if source_map else None
            where = f" at {location}" if location else ""
            declared.append(
                f"{need.path[1]} -> {need.target.name} ({render_key_path(need.path)}{where})"
            )
        first_location = source_map.value(cycle[0].path) if source_map else None
        return Diagnostic(
            first_location,
            "services",
            f"dependency cycle: {' -> '.join(names)}; declared by " + ", ".join(declared),
        )
    return None


def check_references(stack: Stack, source_map: SourceMap | None = None) -> None:
    """Raise ``StackFileError`` for a need of an unknown service or a dependency cycle.

    Pure and free of networkx, so ``stackr config`` can check a file without paying
    for the graph library's import.
    """
    relations = _service_relations(stack)
    problems = [
        Diagnostic(
            source_map.value(need.path) if source_map else None,
            render_key_path(need.path),
            f'{need.reason}: unknown service "{need.target.name}"',
        )
        for needs in relations.values()
        for need in needs
        if need.target.name not in relations
    ]
    if problems:
        raise StackFileError(problems)
    cycle = _cycle_diagnostic(relations, source_map)
    if cycle is not None:
        raise StackFileError([cycle])


def build_graph(stack: Stack, source_map: SourceMap | None = None) -> StackGraph:
    """The stack's graph; raises ``StackFileError`` for a cycle or an unknown reference."""
    check_references(stack, source_map)
    graph = _Dag()
    replicas = {name: replica_count(service) for name, service in stack.services.items()}
    for service_name in sorted(stack.services):
        for index in range(1, replicas[service_name] + 1):
            graph.add_node(ResourceId("service", service_name, index))
    for service_name in sorted(stack.services):
        service = stack.services[service_name]
        for need in _service_needs(stack.name, service_name, service):
            targets = [need.target]
            if need.target.kind == "service":
                targets = [
                    ResourceId("service", need.target.name, index)
                    for index in range(1, replicas[need.target.name] + 1)
                ]
            for index in range(1, replicas[service_name] + 1):
                needer = ResourceId("service", service_name, index)
                for target in targets:
                    graph.add_edge(target, needer, reason=need.reason, path=need.path)
        for position, mount in enumerate(service.volumes):
            if mount.type != "volume" or mount.source:
                continue
            for index in range(1, replicas[service_name] + 1):  # each replica its own
                volume = ResourceId(
                    "volume", anonymous_volume_key(service_name, index, mount.target)
                )
                graph.add_edge(volume, ResourceId("service", service_name, index),
                               reason="volume", path=("services", service_name, "volumes",
                                                      position))
    return StackGraph(graph)


def graph_from_needs(needs: Mapping[ResourceId, Iterable[ResourceId]]) -> StackGraph:
    """A graph from recorded dependencies (``down`` without a stack file).

    Records never hold a cycle (up refuses them); if one was edited in, teardown still
    has to finish, so an edge that would close a cycle is left out.
    """
    graph = _Dag()
    for resource in sorted(needs):
        graph.add_node(resource)
    for resource in sorted(needs):
        for needed in sorted(needs[resource]):
            if needed == resource or _reaches(graph, resource, needed):
                continue
            graph.add_edge(needed, resource, reason="recorded", path=())
    return StackGraph(graph)


def _reaches(graph: _Dag, start: ResourceId, goal: ResourceId) -> bool:
    """Whether ``goal`` can be reached from ``start`` along the edges."""
    seen, stack = {start}, [start]
    while stack:
        for following in graph.successors.get(stack.pop(), ()):
            if following == goal:
                return True
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return False
