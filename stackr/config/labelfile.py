"""``label_file``: a service's labels read from ``KEY=VALUE`` files, as Compose does.

Each file (a path or a list, relative to the project directory) is read like an env
file, without interpolation; later files win, and the service's own ``labels`` win
over every file. The key is gone afterwards: the model sees only ``labels``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from stackr.config.envfile import read_dotenv
from stackr.config.source import Node
from stackr.errors import Diagnostic


@dataclass(frozen=True)
class Labelled:
    services: Node
    diagnostics: list[Diagnostic]
    files: list[Path]  # every label file read (for watch and the settled record)


def resolve_label_files(services: Node, project_dir: Path, display: Callable[[Path], str]
                        ) -> Labelled:
    diagnostics: list[Diagnostic] = []
    files: list[Path] = []
    entries: dict[str, Node] = {}
    for name, service in services.value.items():
        node = service.value.get("label_file") if service.is_mapping else None
        if node is None:
            entries[name] = service
            continue
        where = f"services.{name}.label_file"
        location = service.key_locations.get("label_file", node.location)
        items = [node] if isinstance(node.value, str) else node.value \
            if node.is_sequence else None
        if items is None or not all(isinstance(item.value, str) for item in items):
            diagnostics.append(Diagnostic(location, where, "label_file is a path or a list"))
            entries[name] = service
            continue
        labels: dict[str, Node] = {}
        for item in items:
            path = project_dir / item.value
            files.append(path)
            values, problem = read_dotenv(path, display(path), interpolate=False)
            if problem is not None:
                message = problem.message.replace("env file", "label file", 1)
                diagnostics.append(problem if problem.location is not None else
                                   Diagnostic(item.location, where, message))
                continue
            labels.update({key: Node(value, item.location) for key, value in values.items()})
        own = service.value.get("labels")
        if own is not None and own.is_mapping:
            labels.update(own.value)
        elif own is not None and own.is_sequence:
            for entry in own.value:  # KEY=VALUE items
                key, _, text = str(entry.value).partition("=")
                labels[key] = Node(text, entry.location)
        fields = {k: v for k, v in service.value.items() if k != "label_file"}
        fields["labels"] = Node(labels, own.location if own is not None else location,
                                {key: label.location for key, label in labels.items()},
                                1 + len(labels))
        keys = {k: v for k, v in service.key_locations.items() if k != "label_file"}
        keys.setdefault("labels", location)
        entries[name] = replace(service, value=fields, key_locations=keys,
                                size=1 + sum(child.size for child in fields.values()))
    return Labelled(replace(services, value=entries), diagnostics, files)
