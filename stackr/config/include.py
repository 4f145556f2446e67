"""``include``: another stack file's resources imported into this one, as Compose does.

Each entry (``- path`` or ``{path, project_directory, env_file}``) is loaded as a
stack of its own: its files are read and merged, interpolated with its own ``.env``
(that of its project directory, or its ``env_file`` list) overlaid by the process
environment, with its own ``extends`` and ``include`` applied; its relative paths are
made absolute against its project directory (by default its first file's directory).
Its services, networks, volumes, secrets and configs then join the including file's;
a name defined on both sides is an error, as in Compose. Every problem is said at the
``include`` entry (or, inside the included file, where it is).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from stackr.config.extends import absolute_path, apply_extends, rebased_service, said_at
from stackr.config.interpolate import interpolate_node
from stackr.config.merge import merge_files
from stackr.config.project import LoadOptions, load_environment
from stackr.config.source import Node, read_stack_file, with_entries, without_key
from stackr.errors import Diagnostic, Location

Display = Callable[[Path], str]
SECTIONS = ("services", "networks", "volumes", "secrets", "configs")
ENTRY_SYNTAX = "an include entry is a path or {path, project_directory, env_file}"


@dataclass(frozen=True)
class Included:
    document: Node  # with the included resources in, and no include key
    diagnostics: list[Diagnostic]
    files: list[Path]  # every file read for it (stack files and env files)


@dataclass
class _Loader:
    environ: Mapping[str, str]  # the process environment
    display: Display
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def apply(self, document: Node, path: Path, chain: tuple[Path, ...]) -> Node:
        node = document.value.get("include") if document.is_mapping else None
        if node is None:
            return document
        document = without_key(document, "include")
        if not node.is_sequence:
            self._problem(node.location, "include", "include is a list of entries")
            return document
        for index, entry in enumerate(node.value):
            where = f"include[{index}]"
            loaded = self._load_entry(entry, path, where, chain)
            if loaded is not None:
                document = self._import(document, loaded, entry.location, where)
        return document

    def _problem(self, location: Location, where: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(location, where, message))

    def _strings(self, node: Node | None) -> list[str] | None:
        if node is None:
            return []
        if isinstance(node.value, str) and node.value:
            return [node.value]
        if node.is_sequence and node.value and all(
                isinstance(item.value, str) and item.value for item in node.value):
            return [item.value for item in node.value]
        return None

    def _load_entry(self, entry: Node, including: Path, where: str, chain: tuple[Path, ...]
                    ) -> Node | None:
        base = including.parent
        if entry.is_mapping:
            unknown = sorted(set(entry.value) - {"path", "project_directory", "env_file"})
            paths = self._strings(entry.value.get("path"))
            env_files = self._strings(entry.value.get("env_file"))
            directory = entry.value.get("project_directory")
            if unknown or not paths or env_files is None or (
                    directory is not None and not isinstance(directory.value, str)):
                self._problem(entry.location, where, ENTRY_SYNTAX)
                return None
        else:
            paths, env_files, directory = self._strings(entry), [], None
            if not paths:
                self._problem(entry.location, where, ENTRY_SYNTAX)
                return None
        files = [Path(os.path.normpath(base / name)) for name in paths]
        project_dir = Path(os.path.normpath(base / str(directory.value))) \
            if directory is not None else files[0].parent
        cycle = [file for file in files if file in chain]
        if cycle:
            shown = " → ".join(self.display(file) for file in (*chain, cycle[0]))
            self._problem(entry.location, where, f"include cycle: {shown}")
            return None
        # Its own .env (or env_file list) under the process environment, as a project's.
        dotenv_files = [Path(os.path.normpath(base / name)) for name in env_files]
        self.files.extend(dotenv_files or [project_dir / ".env"])
        environment, problems = load_environment(
            LoadOptions(env_files=tuple(dotenv_files), environ=self.environ, cwd=base),
            project_dir)
        self.diagnostics.extend(said_at(problem, entry.location, where) for problem in problems)
        documents = []
        for file in files:
            read, problems = read_stack_file(file, self.display(file))
            self.files.append(file)
            self.diagnostics.extend(said_at(problem, entry.location, where)
                                    for problem in problems)
            for document in read:
                result = interpolate_node(document, environment)
                self.diagnostics.extend(result.errors)
                extended = apply_extends(result.node, file, environment, project_dir,
                                         self.display)
                self.diagnostics.extend(extended.diagnostics)
                self.files.extend(extended.files)
                documents.append(self.apply(extended.document, file, (*chain, file)))
        if not documents:
            return None
        return _rebased(merge_files(documents), project_dir)

    def _import(self, document: Node, included: Node, location: Location, where: str) -> Node:
        entries = dict(document.value)
        keys = dict(document.key_locations)
        for section in SECTIONS:
            imported = included.value.get(section) if included.is_mapping else None
            if imported is None or not imported.is_mapping or not imported.value:
                continue
            own = entries.get(section)
            if own is None or not own.is_mapping:
                entries[section] = imported
                keys[section] = location
                continue
            clashes = sorted(set(own.value) & set(imported.value))
            for name in clashes:
                self._problem(location, where, f"{section}.{name} is defined both here and in "
                              "the included file (Compose refuses it too)")
            entries[section] = with_entries(own, {**imported.value, **own.value},
                                            {**imported.key_locations, **own.key_locations})
        return with_entries(document, entries, keys)


def _rebased(model: Node, directory: Path) -> Node:
    """The included stack's relative paths made absolute against its directory."""
    if not model.is_mapping:
        return model
    entries = dict(model.value)
    services = entries.get("services")
    if services is not None and services.is_mapping:
        entries["services"] = replace(services, value={
            name: rebased_service(service, directory) for name, service in services.value.items()
        })
    for section in ("secrets", "configs"):
        node = entries.get(section)
        if node is None or not node.is_mapping:
            continue
        items = {}
        for name, item in node.value.items():
            file = item.value.get("file") if item.is_mapping else None
            if file is not None and isinstance(file.value, str):
                file = replace(file, value=absolute_path(file.value, directory))
                item = replace(item, value={**item.value, "file": file})
            items[name] = item
        entries[section] = replace(node, value=items)
    entries.pop("name", None)  # an included file's name is not the project's
    return replace(model, value=entries)


def apply_include(document: Node, path: Path, environ: Mapping[str, str],
                  display: Display) -> Included:
    """Import every ``include`` entry of one file's document (``path``)."""
    if not document.is_mapping or "include" not in document.value:
        return Included(document, [], [])
    loader = _Loader(environ, display)
    result = loader.apply(document, path, (path,))
    return Included(result, loader.diagnostics, list(dict.fromkeys(loader.files)))
