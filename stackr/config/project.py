"""Which files, which project directory, which name, which environment (Compose's rules).

* files: ``-f`` in order; else ``COMPOSE_FILE`` (``COMPOSE_PATH_SEPARATOR``, default
  ``:``); else the first of ``compose.yaml``, ``compose.yml``, ``docker-compose.yml``,
  ``docker-compose.yaml``, ``stack.yml``, ``stack.yaml`` found in the working directory
  or its parents, plus an ``*.override.yml``/``*.override.yaml`` beside it;
* project directory: ``--project-directory``, else the first file's directory;
* environment for interpolation: ``.env`` of the project directory (or the
  ``--env-file`` list, later files winning), overlaid by the process environment;
* project name: ``-p``, ``COMPOSE_PROJECT_NAME``, top-level ``name:``, else the project
  directory's name normalised. The first three must already be valid names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stackr.config.envfile import read_dotenv
from stackr.errors import Diagnostic, Location

DEFAULT_FILE_NAMES = (
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "stack.yml",
    "stack.yaml",
)
DEFAULT_OVERRIDE_FILE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
    "stack.override.yml",
    "stack.override.yaml",
)
_VALID_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_NAME_CHARS = re.compile(r"[a-z0-9_-]")


@dataclass(frozen=True)
class LoadOptions:
    files: tuple[Path, ...] = ()  # -f, in order; empty → COMPOSE_FILE, then default lookup
    project_name: str | None = None  # -p
    project_directory: Path | None = None  # --project-directory
    env_files: tuple[Path, ...] = ()  # --env-file (replaces .env)
    profiles: tuple[str, ...] = ()  # --profile
    environ: Mapping[str, str] = field(default_factory=dict)  # the process environment
    cwd: Path = Path(".")


@dataclass(frozen=True)
class StackFiles:
    """The stack files to merge, in order, and the project directory."""

    files: tuple[Path, ...]
    project_dir: Path
    notes: tuple[Diagnostic, ...] = ()  # warnings, e.g. several default files found


def normalize_project_name(name: str) -> str:
    """Compose's normalisation of a directory name: lowercase, only [a-z0-9_-], no
    leading ``_``/``-``."""
    return "".join(_NAME_CHARS.findall(name.lower())).lstrip("_-")


def is_valid_project_name(name: str) -> bool:
    return bool(_VALID_NAME.match(name))


def invalid_project_name_message(name: str) -> str:
    return (
        f"invalid project name {name!r}: it must contain only lowercase letters, digits, "
        "'-' and '_', and start with a letter or a digit"
    )


def display_path(path: Path, cwd: Path) -> str:
    """How a file is named in messages: relative to the working directory when under it."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def find_stack_files(options: LoadOptions) -> tuple[StackFiles | None, list[Diagnostic]]:
    cwd = options.cwd.resolve()
    notes: list[Diagnostic] = []
    requested = list(options.files)
    if not requested:
        settings = _compose_settings(options, cwd)
        compose_file = settings.get("COMPOSE_FILE", "")
        separator = settings.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        requested = [Path(part) for part in compose_file.split(separator) if part]
    if requested:
        files = tuple(_absolute(path, cwd) for path in requested)
        missing = [
            Diagnostic(None, "", f"stack file {display_path(path, cwd)} not found")
            for path in files
            if not os.path.lexists(path)
        ]
        if missing:
            return None, missing
    else:
        found = _find_default_files(options.project_directory or cwd, cwd, notes)
        if found is None:
            names = ", ".join(DEFAULT_FILE_NAMES)
            message = f"no stack file found in {cwd} or its parents (looked for {names})"
            return None, [Diagnostic(None, "", message, "use -f FILE")]
        files = found
    if options.project_directory is not None:
        project_dir = _absolute(options.project_directory, cwd)
    else:
        project_dir = files[0].parent
    return StackFiles(files, project_dir, tuple(notes)), []


def _compose_settings(options: LoadOptions, cwd: Path) -> Mapping[str, str]:
    """COMPOSE_FILE may come from the process environment or, as in Compose, from the
    dotenv file of the working directory (problems in it are reported later)."""
    if "COMPOSE_FILE" in options.environ:
        return options.environ
    if options.env_files:
        paths = [_absolute(path, cwd) for path in options.env_files]
    else:
        paths = [_absolute(options.project_directory or cwd, cwd) / ".env"]
    settings: dict[str, str] = {}
    for path in paths:
        if path.is_file():
            values, _ = read_dotenv(path, str(path), options.environ.get)
            settings.update(values)
    settings.update(options.environ)
    return settings


def _absolute(path: Path, cwd: Path) -> Path:
    # Not resolve(): a symlinked stack file keeps its own directory, as in Compose.
    return Path(os.path.normpath(path if path.is_absolute() else cwd / path))


def _find_default_files(start: Path, cwd: Path, notes: list[Diagnostic]) -> tuple[Path, ...] | None:
    directory = _absolute(start, cwd)
    while True:
        candidates = [
            directory / name for name in DEFAULT_FILE_NAMES if (directory / name).is_file()
        ]
        if candidates:
            chosen = candidates[0]
            if len(candidates) > 1:
                others = ", ".join(display_path(path, cwd) for path in candidates)
                notes.append(
                    Diagnostic(
                        None,
                        "",
                        f"found several stack files ({others}); using {display_path(chosen, cwd)}",
                    )
                )
            overrides = [
                directory / name
                for name in DEFAULT_OVERRIDE_FILE_NAMES
                if (directory / name).is_file()
            ]
            return (chosen, overrides[0]) if overrides else (chosen,)
        if directory.parent == directory:
            return None
        directory = directory.parent


def load_environment(
    options: LoadOptions, project_dir: Path
) -> tuple[dict[str, str], list[Diagnostic]]:
    """The interpolation environment: the dotenv file(s) overlaid by the process env."""
    cwd = options.cwd.resolve()
    diagnostics: list[Diagnostic] = []
    dotenv: dict[str, str] = {}

    def lookup(name: str) -> str | None:
        value = options.environ.get(name)
        return value if value is not None else dotenv.get(name)

    if options.env_files:
        paths = [_absolute(path, cwd) for path in options.env_files]
    else:
        default = project_dir / ".env"
        paths = [default] if default.is_file() else []
    for path in paths:
        values, problem = read_dotenv(path, display_path(path, cwd), lookup)
        if problem is not None:
            diagnostics.append(problem)
            continue
        dotenv.update(values)
    environment = dict(dotenv)
    environment.update(options.environ)
    return environment, diagnostics


def active_profiles(options: LoadOptions, environment: Mapping[str, str]) -> tuple[str, ...]:
    if options.profiles:
        return tuple(dict.fromkeys(options.profiles))
    text = environment.get("COMPOSE_PROFILES", "")
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def choose_project_name(
    options: LoadOptions,
    environment: Mapping[str, str],
    name_from_file: tuple[str, Location | None, str] | None,
    project_dir: Path,
) -> tuple[str | None, list[Diagnostic]]:
    """``name_from_file`` is (interpolated name, its position, its key path)."""
    if options.project_name is not None:
        return _checked(options.project_name, None, "", "-p")
    from_env = environment.get("COMPOSE_PROJECT_NAME")
    if from_env:
        return _checked(from_env, None, "", "COMPOSE_PROJECT_NAME")
    if name_from_file is not None and name_from_file[0]:
        name, location, path = name_from_file
        return _checked(name, location, path, None)
    name = normalize_project_name(project_dir.name)
    if not name:
        message = (
            f"cannot derive a project name from the directory {project_dir}; "
            "set one with -p or a top-level name:"
        )
        return None, [Diagnostic(None, "", message)]
    return name, []


def _checked(
    name: str, location: Location | None, path: str, source: str | None
) -> tuple[str | None, list[Diagnostic]]:
    if is_valid_project_name(name):
        return name, []
    message = invalid_project_name_message(name)
    if source is not None:
        message = f"{source}: {message}"
    return None, [Diagnostic(location, path, message)]
