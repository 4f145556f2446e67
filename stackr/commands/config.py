"""``stackr config``: validate the stack file and print its normalised form."""

from __future__ import annotations

import argparse
import json
from typing import Any

from stackr.commands.project_options import load_project


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="only validate")
    parser.add_argument("--services", action="store_true", help="print the service names")
    parser.add_argument("--volumes", action="store_true", help="print the volume names")
    parser.add_argument("--networks", action="store_true", help="print the network names")
    parser.add_argument("--profiles", action="store_true", help="print the profile names")
    parser.add_argument("--images", action="store_true", help="print the image names")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")


def _sorted_mapping(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_mapping(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_mapping(item) for item in value]
    return value


TOP_LEVEL_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs")


def normalised_document(stack: Any) -> dict[str, Any]:
    """The stack as plain data in a stable order: known top-level keys first."""
    data = stack.model_dump(mode="json", by_alias=True, exclude_none=True)
    ordered = {key: _sorted_mapping(data[key]) for key in TOP_LEVEL_ORDER if data.get(key)}
    for key in sorted(data):
        if key not in ordered and data[key]:
            ordered[key] = _sorted_mapping(data[key])
    return ordered


def run(args: argparse.Namespace) -> int:
    from stackr.graph import build_graph, image_reference

    loaded = load_project(args)
    stack = loaded.stack
    build_graph(stack, loaded.raw.source_map)  # cycles are errors of the file too
    listings = {
        "services": lambda: sorted(stack.services),
        "volumes": lambda: sorted(stack.volumes),
        "networks": lambda: sorted(stack.networks),
        "profiles": lambda: list(loaded.all_profiles),
        "images": lambda: sorted(
            {ref for name, svc in stack.services.items() if (ref := image_reference(name, svc))}
        ),
    }
    for option, listing in listings.items():
        if getattr(args, option):
            for name in listing():
                print(name)
            return 0
    if args.quiet:
        return 0
    document = normalised_document(stack)
    if args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        import yaml

        print(yaml.safe_dump(document, sort_keys=False, default_flow_style=False), end="")
    return 0
