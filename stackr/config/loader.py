"""``load_raw``: the stack files, read, interpolated, merged, with ``env_file`` applied.

Every phase runs as far as it can and all problems are reported together in one
``StackFileError``; warnings (unset variables…) travel in ``RawStack.warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from stackr.config.envfile import resolve_service_env_files
from stackr.config.interpolate import TemplateError, expand_text, interpolate_node
from stackr.config.merge import merge_files
from stackr.config.project import (
    LoadOptions,
    StackFiles,
    active_profiles,
    choose_project_name,
    display_path,
    find_stack_files,
    load_environment,
)
from stackr.config.raw import RawStack
from stackr.config.source import Node, key_text, read_stack_file, to_plain
from stackr.config.source_map import SourceMap
from stackr.errors import Diagnostic, Location, StackFileError

__all__ = ["LoadOptions", "load_project_name", "load_raw"]


@dataclass(frozen=True)
class _Head:
    """The first phases: the files read, the environment, the project's name."""

    found: StackFiles
    cwd: Path
    environment: dict[str, str]
    documents: list[Node]
    project_name: str | None
    errors: list[Diagnostic]


def _read_head(options: LoadOptions) -> _Head:
    cwd = options.cwd.resolve()
    found, problems = find_stack_files(options)
    if found is None:
        raise StackFileError(problems)
    errors: list[Diagnostic] = []
    environment, env_problems = load_environment(options, found.project_dir)
    errors.extend(env_problems)

    documents: list[Node] = []
    for path in found.files:
        file_documents, file_problems = read_stack_file(path, display_path(path, cwd))
        documents.extend(file_documents)
        errors.extend(file_problems)

    name_from_file = _name_from_files(documents, environment)
    project_name, name_problems = choose_project_name(
        options, environment, name_from_file, found.project_dir
    )
    errors.extend(name_problems)
    if project_name is not None:
        # Compose exposes the project name to interpolation when it is not set already.
        environment.setdefault("COMPOSE_PROJECT_NAME", project_name)
    return _Head(found, cwd, environment, documents, project_name, errors)


def load_project_name(options: LoadOptions) -> str:
    """The project's name alone, derived as ``load_raw`` derives it, without validating
    the rest: the commands that work from the engine's records (``down``, ``ps``, …) need
    no more, and must keep working on a file that no longer validates. A file that cannot
    be read or parsed is still an error: the name could be in it."""
    head = _read_head(options)
    if head.errors or head.project_name is None:
        raise StackFileError(head.errors)
    return head.project_name


def load_raw(options: LoadOptions) -> RawStack:
    """Load the stack described by ``options``; raises ``StackFileError`` listing every
    problem found (and nothing else for bad user input)."""
    head = _read_head(options)
    found, cwd, environment = head.found, head.cwd, head.environment
    errors = list(head.errors)
    warnings: list[Diagnostic] = list(found.notes)
    project_name = head.project_name

    interpolated: list[Node] = []
    for document in head.documents:
        result = interpolate_node(document, environment)
        interpolated.append(result.node)
        errors.extend(result.errors)
        warnings.extend(result.warnings)

    merged = merge_files(interpolated) if interpolated else None
    if merged is not None:
        services = merged.value.get("services")
        if services is not None and services.is_mapping:
            services, env_file_problems = resolve_service_env_files(
                services,
                found.project_dir,
                environment,
                lambda path: display_path(path, cwd),
            )
            errors.extend(env_file_problems)
            merged = replace(merged, value={**merged.value, "services": services})

    if errors or merged is None or project_name is None:
        raise StackFileError(errors)
    source_map = SourceMap()
    data = to_plain(merged, (), source_map)
    return RawStack(
        data=data,
        source_map=source_map,
        files=found.files,
        project_name=project_name,
        project_dir=found.project_dir,
        environment=environment,
        profiles=active_profiles(options, environment),
        warnings=tuple(sorted(dict.fromkeys(warnings), key=Diagnostic.sort_key)),
    )


def _name_from_files(
    documents: list[Node], environment: dict[str, str]
) -> tuple[str, Location | None, str] | None:
    """The top-level ``name:`` of the last file that sets one, interpolated on its own
    (the name is needed before the rest is interpolated)."""
    for document in reversed(documents):
        node = document.value.get("name")
        if node is None or node.value is None:
            continue
        if not isinstance(node.value, str):
            return key_text(node.value), node.location, "name"
        try:
            name, _ = expand_text(node.value, environment)
        except TemplateError:
            return None  # reported with the rest of the interpolation problems
        return name, node.location, "name"
    return None


def stack_file_paths(raw: RawStack) -> tuple[Path, ...]:
    """Every file the stack was read from, for ``watch``: the stack files, the project's
    ``.env`` and each service's env_file (``--env-file`` files are the caller's)."""
    paths: list[Path] = list(raw.files)
    dotenv = raw.project_dir / ".env"
    if dotenv.is_file():
        paths.append(dotenv)
    services = raw.data.get("services")
    if isinstance(services, dict):
        for service in services.values():
            if isinstance(service, dict):
                for entry in service.get("env_file") or []:
                    if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                        paths.append(Path(entry["path"]))
    return tuple(dict.fromkeys(paths))
