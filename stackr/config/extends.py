"""``extends``: a service made from another service, of the same file or of another one.

Resolved in each file's interpolated document before the files are merged, as
compose-go does. The base service is resolved first (so chains work), then the
extending service is merged over it by the rules an override file follows
(``merge.merge_nodes``): mappings merge, ``command`` replaces, ``environment`` merges by
key, ``ports`` and ``volumes`` keep one entry per key. A base read from a file in
another directory keeps meaning what it meant there: its relative paths (``build``
context, ``env_file``, bind sources) are made absolute against that file's directory.
Every problem (a missing service or file, a cycle) is a diagnostic at the ``extends``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from stackr.config.interpolate import interpolate_node
from stackr.config.merge import merge_nodes, strip_resets
from stackr.config.source import Node, read_stack_file, with_entries, without_key
from stackr.errors import Diagnostic, Location

Display = Callable[[Path], str]


@dataclass
class _Resolver:
    environment: Mapping[str, str]
    project_dir: Path
    display: Display
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files_read: list[Path] = field(default_factory=list)  # other files extends named
    _services_of: dict[Path, Node | None] = field(default_factory=dict)
    _unreadable: set[Path] = field(default_factory=set)
    _done: dict[tuple[Path, str], Node] = field(default_factory=dict)

    def services(self, path: Path, where: Location, key_path: str) -> Node | None:
        if path not in self._services_of:
            documents, problems = read_stack_file(path, self.display(path))
            self.files_read.append(path)
            if problems:
                self._unreadable.add(path)
            # a missing file is said at the extends naming it
            self.diagnostics.extend(said_at(problem, where, key_path) for problem in problems)
            services = None
            for document in documents:
                result = interpolate_node(document, self.environment)
                self.diagnostics.extend(result.errors)
                if result.node.is_mapping and "services" in result.node.value:
                    services = result.node.value["services"]
            self._services_of[path] = services
        return self._services_of[path]

    def resolve(self, path: Path, name: str, service: Node, chain: tuple[str, ...]) -> Node:
        """``service`` (named ``name``, in ``path``) with its ``extends`` applied."""
        key = (path, name)
        if key in self._done:
            return self._done[key]
        extends = service.value.get("extends") if service.is_mapping else None
        if extends is None:
            return service
        where = service.key_locations.get("extends", extends.location)
        key_path = f"services.{name}.extends"
        base_file, base_name = self._target(path, extends, where, key_path)
        if base_name is None:
            return without_key(service, "extends")
        label = f"{self.display(base_file)}:{base_name}"
        if label in chain:
            cycle = " → ".join((*chain, label))
            self.diagnostics.append(Diagnostic(where, key_path, f"extends cycle: {cycle}"))
            return without_key(service, "extends")
        services = self._services_of.get(path) if base_file == path else \
            self.services(base_file, where, key_path)
        base = services.value.get(base_name) if services is not None and services.is_mapping \
            else None
        if base is None:
            if base_file not in self._unreadable:
                self.diagnostics.append(Diagnostic(
                    where, key_path,
                    f'service "{base_name}" not found in {self.display(base_file)}'))
            return without_key(service, "extends")
        resolved_base = self.resolve(base_file, base_name, base, (*chain, label))
        if base_file.parent != self.project_dir:
            resolved_base = rebased_service(resolved_base, base_file.parent)
        merged = merge_nodes(strip_resets(without_key(resolved_base, "extends")),
                             without_key(service, "extends"), ("services", name))
        self._done[key] = merged
        return merged

    def _target(self, path: Path, extends: Node, where: Location, key_path: str
                ) -> tuple[Path, str | None]:
        if isinstance(extends.value, str) and extends.value:
            return path, extends.value
        if extends.is_mapping:
            service = extends.value.get("service")
            file = extends.value.get("file")
            if service is not None and isinstance(service.value, str) and service.value and (
                    file is None or (isinstance(file.value, str) and file.value)):
                target = path if file is None else \
                    Path(os.path.normpath(path.parent / str(file.value)))
                return target, service.value
        self.diagnostics.append(Diagnostic(
            where, key_path, "extends is a service name or {service: NAME, file: PATH}"))
        return path, None


def said_at(problem: Diagnostic, location: Location, key_path: str) -> Diagnostic:
    """A problem of a file another file names (a missing file has no position of its
    own), said where it is named."""
    if problem.location is not None:
        return problem
    return Diagnostic(location, key_path, problem.message.replace("stack file", "file", 1))


def absolute_path(text: str, directory: Path) -> str:
    if text.startswith(("/", "~")) or "://" in text or text.startswith("git@"):
        return text  # absolute, home-relative, or a remote build context
    return os.path.normpath(directory / text)


def rebased_service(service: Node, directory: Path) -> Node:
    """The base's relative paths, made absolute against its own file's directory."""
    if not service.is_mapping:
        return service
    entries = dict(service.value)
    build = entries.get("build")
    if build is not None and isinstance(build.value, str):
        entries["build"] = replace(build, value=absolute_path(build.value, directory))
    elif build is not None and build.is_mapping and isinstance(
            (context := build.value.get("context")) and context.value, str):
        assert context is not None
        context = replace(context, value=absolute_path(context.value, directory))
        entries["build"] = replace(build, value={**build.value, "context": context})
    env_file = entries.get("env_file")
    if env_file is not None:
        entries["env_file"] = _rebased_env_files(env_file, directory)
    volumes = entries.get("volumes")
    if volumes is not None and volumes.is_sequence:
        entries["volumes"] = replace(volumes, value=[
            _rebased_volume(item, directory) for item in volumes.value])
    return replace(service, value=entries)


def _rebased_env_files(node: Node, directory: Path) -> Node:
    if isinstance(node.value, str):
        return replace(node, value=absolute_path(node.value, directory))
    if not node.is_sequence:
        return node
    items = []
    for item in node.value:
        if isinstance(item.value, str):
            item = replace(item, value=absolute_path(item.value, directory))
        elif item.is_mapping and isinstance((path := item.value.get("path")) and path.value, str):
            assert path is not None
            path = replace(path, value=absolute_path(path.value, directory))
            item = replace(item, value={**item.value, "path": path})
        items.append(item)
    return replace(node, value=items)


def _rebased_volume(item: Node, directory: Path) -> Node:
    """A bind's relative source (``./data:/data``, ``{type: bind, source: ./data}``)."""
    if isinstance(item.value, str):
        source, separator, rest = item.value.partition(":")
        if separator and source.startswith("."):
            return replace(item, value=f"{absolute_path(source, directory)}:{rest}")
        return item
    if item.is_mapping:
        kind = item.value.get("type")
        source = item.value.get("source")
        if kind is not None and kind.value == "bind" and source is not None \
                and isinstance(source.value, str):
            source = replace(source, value=absolute_path(source.value, directory))
            return replace(item, value={**item.value, "source": source})
    return item


@dataclass(frozen=True)
class Extended:
    document: Node  # with every service's extends applied (and the key gone)
    diagnostics: list[Diagnostic]
    files: list[Path]  # the other files extends read (for watch and the settled record)


def apply_extends(document: Node, path: Path, environment: Mapping[str, str],
                  project_dir: Path, display: Display) -> Extended:
    """Resolve every ``extends`` of one interpolated file (``path``)."""
    services = document.value.get("services") if document.is_mapping else None
    if services is None or not services.is_mapping or not any(
            service.is_mapping and "extends" in service.value
            for service in services.value.values()):
        return Extended(document, [], [])
    resolver = _Resolver(environment, project_dir, display)
    resolver._services_of[path] = services
    label = display(path)
    entries = {
        name: resolver.resolve(path, name, service, (f"{label}:{name}",))
        for name, service in services.value.items()
    }
    document = with_entries(document, {**document.value,
                                       "services": with_entries(services, entries)})
    return Extended(document, resolver.diagnostics, list(dict.fromkeys(resolver.files_read)))
