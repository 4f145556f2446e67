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


TOP_LEVEL_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs")


def plain(value: Any) -> Any:
    """A model as the data a stack file would hold, mappings sorted, ``x-*`` keys put
    back at their level. Fields of a service, network, volume … left at their default
    are left out (``docker compose config`` prints only what is set); inside them, empty
    values are left out as Go's ``omitempty`` does in Compose's output."""
    from pydantic import BaseModel

    from stackr.config.models_base import Model
    from stackr.config.models_service import Service
    from stackr.config.models_top import Config, Network, Secret, Stack, Volume

    if isinstance(value, Model):
        hide_defaults = isinstance(value, Stack | Service | Network | Volume | Secret | Config)
        data: dict[str, Any] = {}
        for name, field in type(value).model_fields.items():
            item = getattr(value, name)
            if name == "extensions" or item is None:
                continue
            if hide_defaults and item == field.get_default(call_default_factory=True):
                continue
            if not hide_defaults and item in ((), {}, [], "", 0, False):
                continue
            data[name] = plain(item)
        data.update(value.extensions)
        return {key: data[key] for key in sorted(data)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {str(key): plain(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def normalised_document(stack: Any) -> dict[str, Any]:
    """The stack as plain data in a stable order: known top-level keys first."""
    data = plain(stack)
    ordered = {key: data[key] for key in TOP_LEVEL_ORDER if key in data}
    ordered.update({key: data[key] for key in sorted(data) if key not in ordered})
    return ordered


def run(args: argparse.Namespace) -> int:
    from stackr.graph import build_graph, image_reference

    loaded = load_project(args)
    stack = loaded.stack
    build_graph(stack, loaded.raw.source_map)  # cycles are errors of the file too
    images = {
        image_reference(stack.name, name, service) for name, service in stack.services.items()
    }
    listings: dict[str, list[str]] = {
        "services": sorted(stack.services),
        "volumes": sorted(stack.volumes),
        "networks": sorted(stack.networks),
        "profiles": list(loaded.all_profiles),
        "images": sorted(image for image in images if image),
    }
    for option, names in listings.items():
        if getattr(args, option):
            for name in names:
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
