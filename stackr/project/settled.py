"""A no-op ``up`` answered without loading the stack: the record of a settled project.

Loading a stack (YAML, interpolation, pydantic validation) costs most of an ``up`` that
has nothing to do. The plan is a pure function of the loaded stack, the image ids and
the engine's observed state, and the loaded stack is a pure function of the command line,
the working directory, the environment and the files it was read from. So after an
``up`` whose plan (once applied) leaves nothing to do, this records those inputs (each
file's digest; files looked for and absent count as absent; the image store's indexes
and records count as files) and a digest of the observed state. The next ``up`` with the
same command line, directory and environment checks the files and the engine; if all
are the same, the plan is empty without loading anything. Any difference (an edited
file, a new image under the tag, a stopped container, another stackr) falls back to the
full path, which records again. Stacks whose desired state depends on more than that
(a ``build:``, a pull policy that asks the registry, secrets and configs rewritten on
every ``up``, external resources that must exist) are never recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackr.paths import run_root

if TYPE_CHECKING:
    import argparse

    from stackr.config.models import Stack
    from stackr.config.pipeline import LoadedStack
    from stackr.config.project import LoadOptions
    from stackr.project.observe import Observation

# Flags that change what the plan is; with any of them, `up` takes the full path.
PLAN_FLAGS = ("services", "scale", "no_deps", "no_start", "no_recreate", "force_recreate",
              "remove_orphans", "renew_anon_volumes", "build", "dry_run")
# Pull policies that never ask a registry for an image that is present.
LOCAL_PULL_POLICIES = (None, "missing", "if_not_present", "never")
RECORD_VERSION = 1
# Set by the shell to the last command's path and the previous directory: they differ
# between `time stackr up` and `stackr up` or after a `cd`, and no stack uses them.
VOLATILE_VARIABLES = frozenset({"_", "OLDPWD"})


def records_dir() -> Path:
    return run_root() / "projects" / "settled"


def invocation_key(args: argparse.Namespace, environ: Mapping[str, str], cwd: str) -> str | None:
    """What decides the loaded stack besides the files: the options, the directory, the
    environment and stackr's own code. ``None``: flags that change the plan are given."""
    if any(getattr(args, flag, None) for flag in PLAN_FLAGS):
        return None
    options = {
        name: getattr(args, name, None)
        for name in ("files", "project_name", "project_directory", "env_files", "profiles",
                     "host")
    }
    variables = sorted(item for item in environ.items() if item[0] not in VOLATILE_VARIABLES)
    document = [RECORD_VERSION, cwd, options, variables, _code_stamp()]
    return hashlib.sha256(json.dumps(document, default=str).encode()).hexdigest()


def _code_stamp() -> list[Any]:
    """stackr's version and its sources' latest change: an upgrade or an edit of stackr
    invalidates every record."""
    import stackr

    package = Path(stackr.__file__).parent
    latest = 0
    pending = [str(package)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    pending.append(entry.path)
                elif entry.name.endswith(".py"):
                    latest = max(latest, entry.stat(follow_symlinks=False).st_mtime_ns)
    return [stackr.__version__, latest]


def file_digest(path: str) -> str | None:
    """The content's digest; ``None`` when absent, ``"unreadable"`` for anything else
    that cannot be read (a directory, no permission): a change of either is noticed."""
    try:
        with open(path, "rb") as stream:
            return hashlib.sha256(stream.read()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError:
        return "unreadable"


def observed_digest(observation: Observation) -> str:
    """Everything of the observed state that ``reconcile`` reads."""
    rows = [
        [str(resource), record.config_hash, record.running, record.external,
         [str(need) for need in record.needs], record.config]
        for resource, record in sorted(observation.resources.items())
    ]
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


def consulted_files(loaded: LoadedStack, options: LoadOptions) -> list[Path]:
    """Every file whose content or presence decided the loaded stack."""
    from stackr.config.loader import stack_file_paths
    from stackr.config.project import DEFAULT_FILE_NAMES, DEFAULT_OVERRIDE_FILE_NAMES

    raw = loaded.raw
    cwd = options.cwd.resolve()
    paths = [*stack_file_paths(raw), raw.project_dir / ".env"]
    paths += [cwd / path for path in options.env_files]
    start = cwd / options.project_directory if options.project_directory else cwd
    paths.append(start / ".env")  # where COMPOSE_FILE may be set
    if not options.files:
        # The lookup of default file names, from the start directory up to where one
        # was found: a file appearing nearer would be chosen instead.
        directory, found_in = start, raw.files[0].parent
        while True:
            paths += [directory / name for name in DEFAULT_FILE_NAMES]
            paths += [directory / name for name in DEFAULT_OVERRIDE_FILE_NAMES]
            if directory in (found_in, directory.parent):
                break
            directory = directory.parent
    return list(dict.fromkeys(Path(os.path.normpath(path)) for path in paths))


def eligible(stack: Stack, external: Iterable[object]) -> bool:
    if any(True for _ in external):
        return False
    return all(
        service.build is None and service.pull_policy in LOCAL_PULL_POLICIES
        and not service.secrets and not service.configs
        for service in stack.services.values()
    )


def image_files(image_ids: Mapping[str, str | None]) -> list[Path]:
    """The image store's files that decide what the references resolve to: its name and
    digest indexes and the records of the images they resolved to."""
    from stackr.images.store import ImageStore

    root = ImageStore().root
    paths = [root / "tags.json", root / "digests.json"]
    for image_id in sorted(filter(None, image_ids.values())):
        paths.append(root / "records" / f"{image_id.removeprefix('sha256:')}.json")
    return paths


def record(key: str, project: str, services: Iterable[str], files: Iterable[Path],
           observation: Observation, warnings: Iterable[str]) -> None:
    """Record ``project`` as settled for ``key``; the project's older records go."""
    from stackr.statefile import write_json_atomic

    forget(project)
    document = {
        "version": RECORD_VERSION,
        "project": project,
        "services": list(services),
        "files": {str(path): file_digest(str(path)) for path in files},
        "observed": observed_digest(observation),
        "warnings": list(warnings),
    }
    write_json_atomic(records_dir() / f"{project}.{key}.json", document)


def forget(project: str) -> None:
    """Remove the project's records (``down``, and before a new record)."""
    try:
        names = os.listdir(records_dir())
    except FileNotFoundError:
        return
    for name in names:
        if name.partition(".")[0] == project:
            try:
                os.unlink(records_dir() / name)
            except FileNotFoundError:
                continue


def lookup(key: str) -> dict[str, Any] | None:
    """The record for ``key`` if none of its files changed, else ``None``."""
    from stackr.statefile import read_json

    try:
        names = [name for name in os.listdir(records_dir()) if name.endswith(f".{key}.json")]
    except FileNotFoundError:
        return None
    if len(names) != 1:
        return None
    try:
        document = read_json(records_dir() / names[0])
    except Exception:  # a damaged record is only a missed shortcut
        return None
    if not isinstance(document, dict) or document.get("version") != RECORD_VERSION:
        return None
    files = document.get("files")
    if not isinstance(files, dict) or any(
        file_digest(path) != digest for path, digest in files.items()
    ):
        return None
    return document
