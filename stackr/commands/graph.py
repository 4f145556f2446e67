"""``stackr graph``: the stack's dependency graph as text, Graphviz dot or Mermaid."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from stackr.commands.project_options import load_project

if TYPE_CHECKING:
    from stackr.graph import ResourceId, StackGraph


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "dot", "mermaid"), default="text")


def render_text(graph: StackGraph) -> str:
    """Start order by generation; each resource with what it needs."""
    lines = []
    for number, generation in enumerate(graph.start_generations(), start=1):
        lines.append(f"{number}. can start together:")
        for resource in generation:
            needs = graph.needs_of(resource)
            lines.append(f"   {resource}")
            for needed, reason in needs:
                lines.append(f"     <- {needed}  [{reason}]")
    return "\n".join(lines)


def _quoted(resource: ResourceId) -> str:
    return '"' + str(resource).replace('"', '\\"') + '"'


def render_dot(graph: StackGraph) -> str:
    lines = ["digraph stack {", "  rankdir=LR;"]
    shapes = {"network": "ellipse", "volume": "cylinder", "image": "note", "service": "box"}
    for resource in graph.resources():
        lines.append(f"  {_quoted(resource)} [shape={shapes.get(resource.kind, 'box')}];")
    for needed, needer, reason in graph.edges():
        lines.append(f'  {_quoted(needed)} -> {_quoted(needer)} [label="{reason}"];')
    lines.append("}")
    return "\n".join(lines)


def render_mermaid(graph: StackGraph) -> str:
    node_ids = {resource: f"n{index}" for index, resource in enumerate(graph.resources())}
    lines = ["graph LR"]
    for resource, node_id in node_ids.items():
        lines.append(f'  {node_id}["{resource}"]')
    for needed, needer, reason in graph.edges():
        lines.append(f"  {node_ids[needed]} -->|{reason}| {node_ids[needer]}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from stackr.graph import build_graph

    loaded = load_project(args)
    graph = build_graph(loaded.stack, loaded.raw.source_map)
    renderers = {"text": render_text, "dot": render_dot, "mermaid": render_mermaid}
    print(renderers[args.format](graph))
    return 0
