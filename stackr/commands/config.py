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
    # dest differs from the project option --profile's ("profiles"), which it must not shadow
    parser.add_argument(
        "--profiles", dest="list_profiles", action="store_true", help="print the profile names"
    )
    parser.add_argument("--images", action="store_true", help="print the image names")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")


TOP_LEVEL_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs")


def _omit_empty(value: Any) -> Any:
    """Go's ``omitempty``, as in Compose's output: no null, empty, false or zero values;
    an empty mapping stays, as it may be an entry that is there by its name alone
    (``networks: {back: {}}``)."""
    if isinstance(value, dict):
        kept = {key: _omit_empty(item) for key, item in sorted(value.items())}
        return {key: item for key, item in kept.items() if item not in (None, [], "", 0)}
    if isinstance(value, list):
        return [_omit_empty(item) for item in value]
    return value


def _resource_document(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """One service, network, volume …: the fields left at their default are left out
    (``docker compose config`` prints only what is set); inside the others, the long
    syntax without empty values."""
    for name, field in type(model).model_fields.items():
        if name in data and getattr(model, name) == field.get_default(call_default_factory=True):
            del data[name]
    return {key: _omit_empty(data[key]) for key in sorted(data)}


def normalised_document(stack: Any) -> dict[str, Any]:
    """The stack as plain data spelled like a stack file, in a stable order."""
    from stackr.config.models import dump

    data = dump(stack)
    for section in ("services", "networks", "volumes", "secrets", "configs"):
        entries = getattr(stack, section)
        data[section] = {
            name: _resource_document(entries[name], data[section][name]) for name in sorted(entries)
        }
    keys = [key for key in TOP_LEVEL_ORDER if key in data]
    keys += sorted(key for key in data if key not in TOP_LEVEL_ORDER)
    return {key: data[key] for key in keys if data[key] not in (None, {}, [])}


def run(args: argparse.Namespace) -> int:
    from stackr.graph import check_references, image_reference

    loaded = load_project(args)
    stack = loaded.stack
    check_references(stack, loaded.raw.source_map)  # cycles are errors of the file too
    images = {
        image_reference(stack.name, name, service) for name, service in stack.services.items()
    }
    listings: dict[str, list[str]] = {
        "services": sorted(stack.services),
        "volumes": sorted(stack.volumes),
        "networks": sorted(stack.networks),
        "list_profiles": list(loaded.all_profiles),
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

        # libyaml's emitter when PyYAML has it (the wheels do): several times faster.
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        print(yaml.dump(document, Dumper=dumper, sort_keys=False, default_flow_style=False), end="")
    return 0
