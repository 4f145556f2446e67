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
from stackr.config.merge import merge_nodes
from stackr.config.source import Node, with_entries, without_key
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
        from_files = Node(labels, location, {key: label.location for key, label in
                                             labels.items()}, 1 + len(labels))
        own = service.value.get("labels")
        # The service's own labels over the files', by the rule of an override file.
        merged = from_files if own is None else \
            merge_nodes(from_files, own, ("services", name, "labels"))
        service = without_key(service, "label_file")
        keys = dict(service.key_locations)
        keys.setdefault("labels", location)
        entries[name] = with_entries(service, {**service.value, "labels": merged}, keys)
    return Labelled(replace(services, value=entries), diagnostics, files)
