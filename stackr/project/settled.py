"""An ``up`` without loading the stack: the project's compiled stack, recorded.

Loading a stack (YAML, interpolation, pydantic validation) costs most of an ``up`` that
has little or nothing to do. What ``up`` makes of the files — the graph, the desired
state with its config hashes, the body of every create — is a pure function of the
command line, the working directory, the environment, the files the stack was read
from and the image ids. So after a full ``up`` this records all of those inputs (each
file's digest, the files looked for and absent too, the image store's indexes and
records) with the compiled stack. The next ``up`` with the same command line, directory
and environment checks the files; if none changed it observes the engine, plans and
applies from the record, without loading anything: a no-op ``up``, an ``up`` after
``down`` or ``stop``, or after a container died, all take this path. Any changed file
(an edit, a new image under the tag, a ``.env`` that appears) takes the full path,
which records again. Stacks whose compiled state depends on more than that (a
``build:``, a pull policy that asks the registry, secrets and configs rewritten on every
``up``, external resources that must exist) are never recorded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from stackr.hashing import sha256_hex
from stackr.paths import run_root
from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down, ps, logs, up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Mapping
    from typing import Any

    from stackr.config.models import Stack
    from stackr.config.pipeline import LoadedStack
    from stackr.config.project import LoadOptions
    from stackr.graph import StackGraph
    from stackr.project.desired import DesiredStack
    from stackr.project.requests import Bodies

# Flags that change what the plan is; with any of them, `up` takes the full path.
PLAN_FLAGS = ("services", "scale", "no_deps", "no_start", "no_recreate", "force_recreate",
              "remove_orphans", "renew_anon_volumes", "build", "dry_run")
# Pull policies that never ask a registry for an image that is present.
LOCAL_PULL_POLICIES = (None, "missing", "if_not_present", "never")
RECORD_VERSION = 4
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
    return stack_key(args, environ, cwd)


def stack_key(args: argparse.Namespace, environ: Mapping[str, str], cwd: str) -> str:
    """The key of the stack the project options, directory and environment name."""
    options = {
        name: getattr(args, name, None)
        for name in ("files", "project_name", "project_directory", "env_files", "profiles",
                     "host")
    }
    variables = sorted(item for item in environ.items() if item[0] not in VOLATILE_VARIABLES)
    document = [RECORD_VERSION, cwd, options, variables, _code_stamp()]
    return sha256_hex(json.dumps(document, default=str).encode())


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
            return sha256_hex(stream.read())
    except FileNotFoundError:
        return None
    except OSError:
        return "unreadable"


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

    return ImageStore().resolution_files(sorted(filter(None, image_ids.values())))


@frozen_record
class Compiled:
    """What a full ``up`` made of the stack, for the next ``up`` to plan and apply from."""

    project: str
    services: tuple[str, ...]  # every service of the stack (for the CLI's checks)
    unattached: tuple[str, ...]  # attach: false (an attached up's logs)
    warnings: tuple[str, ...]  # the loader's, said again on every up
    graph: StackGraph
    desired: DesiredStack
    bodies: Bodies


def record(key: str, compiled: Compiled, files: Iterable[Path]) -> None:
    """Record ``compiled`` for ``key``; the project's older records go."""
    import pickle

    from stackr.statefile import write_atomic

    forget(compiled.project)
    document = {
        "version": RECORD_VERSION,
        "files": {str(path): file_digest(str(path)) for path in files},
        # Pickled apart: what needs only the name never loads the stack's classes.
        "compiled": pickle.dumps(compiled),
    }
    write_atomic(records_dir() / f"{compiled.project}.{key}.pickle", pickle.dumps(document))


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


def project_name(args: argparse.Namespace, environ: Mapping[str, str], cwd: str
                 ) -> str | None:
    """The project these options named at their last full ``up``, if none of its files
    changed since: the commands that need only the name skip reading the stack."""
    found = _current(stack_key(args, environ, cwd))
    return found[0] if found is not None else None


def lookup(key: str) -> Compiled | None:
    """The compiled stack recorded for ``key`` if none of its files changed, else None.

    The record is stackr's own, in its root-only run directory, read back with pickle
    (the stack's classes, nothing else of note): as trusted as the engine's records.
    """
    found = _current(key)
    if found is None:
        return None
    try:
        compiled = _unpickle(found[1])
    except Exception:  # an outdated record is only a missed shortcut
        return None
    return compiled if isinstance(compiled, Compiled) else None


def _current(key: str) -> tuple[str, bytes] | None:
    """(project, its pickled compiled stack) recorded for ``key``, if none of the
    record's files changed since."""
    try:
        names = [name for name in os.listdir(records_dir()) if name.endswith(f".{key}.pickle")]
    except FileNotFoundError:
        return None
    if len(names) != 1:
        return None
    try:
        document = _unpickle((records_dir() / names[0]).read_bytes())
    except Exception:  # a damaged record is only a missed shortcut
        return None
    if not isinstance(document, dict) or document.get("version") != RECORD_VERSION:
        return None
    files, compiled = document.get("files"), document.get("compiled")
    if not isinstance(files, dict) or not isinstance(compiled, bytes) or any(
        file_digest(path) != digest for path, digest in files.items()
    ):
        return None
    return names[0].partition(".")[0], compiled


def _unpickle(data: bytes) -> Any:
    """``pickle.loads``, from CPython's C accelerator when there is one: the verbs that
    only read a record skip ``pickle.py``'s own import (~3 ms, with ``struct``)."""
    try:
        from _pickle import loads
    except ImportError:
        from pickle import loads
    return loads(data)
