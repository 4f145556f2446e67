"""What the project verbs (up, down, ps, logs, exec, stop, start, restart) share: the
engine client, the project (from the file, or from the records when the file is gone),
image resolution and the plain progress display."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by the verb
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Any

    from stackr.client import EngineClient
    from stackr.config.models import Stack
    from stackr.config.pipeline import LoadedStack
    from stackr.graph import ResourceId, StackGraph
    from stackr.project.apply import Progress


def client_for(args: argparse.Namespace) -> EngineClient:
    from stackr.client import EngineClient

    return EngineClient(getattr(args, "host", None))


def project_for_records(args: argparse.Namespace) -> str:
    """The project's name, for the commands that work from the engine's records: the
    settled record's when the same options named it and no file changed since; else,
    with a stack file, the name it gives (the rest of the file is not validated: it may
    have changed since ``up``); without one (deleted, moved), from -p,
    COMPOSE_PROJECT_NAME or the directory, as Compose derives it."""
    import os

    from stackr.project import settled

    recorded = settled.project_name(args, os.environ, os.getcwd())
    if recorded is not None:
        return recorded
    from stackr.commands.project_options import load_options
    from stackr.config.loader import load_project_name
    from stackr.config.project import choose_project_name, find_stack_files
    from stackr.errors import StackFileError

    options = load_options(args)
    files, _ = find_stack_files(options)
    if files is not None:
        return load_project_name(options)
    if options.project_directory is not None:
        directory = options.project_directory
    elif options.files:
        directory = (options.cwd / options.files[0]).parent
    else:
        directory = options.cwd
    name, problems = choose_project_name(options, options.environ, None,
                                         Path(directory).resolve())
    if name is None:
        raise StackFileError(problems)
    return name


def image_policies(stack: Stack, build_all: bool) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Image reference → (what to do when it is missing or always, the services that
    build it). ``build``: build it (``--build``, ``pull_policy: build``, or missing with
    a ``build:``); ``always``: pull every time; ``never``: must be present; ``missing``:
    pull when absent (Compose's default)."""
    from stackr.graph import image_reference

    policies: dict[str, tuple[str, tuple[str, ...]]] = {}
    for service_name, service in sorted(stack.services.items()):
        reference = image_reference(stack.name, service_name, service)
        if reference is None:
            continue
        policy, builders = policies.get(reference, ("missing", ()))
        if service.build is not None:
            builders = (*builders, service_name)
            if build_all or service.pull_policy == "build":
                policy = "build"
        if policy == "missing" and service.pull_policy in ("always", "never"):
            policy = service.pull_policy
        policies[reference] = (policy, builders)
    return policies


def resolve_images(loaded: LoadedStack, stack: Stack, graph: StackGraph, *,
                   pull: bool = True, build_all: bool = False,
                   only: Collection[ResourceId] | None = None) -> dict[str, str | None]:
    """Image reference → id: builds what must be built, pulls what is missing (or asked
    ``always``); with ``only``, the images among those resources (the others resolve to
    what the store has). The store is the one the local engine uses (as ``stackr
    images``/``pull`` use it); a remote ``-H`` engine is not asked yet."""
    from stackr.errors import ApplyError, StackrError
    from stackr.images.store import ImageStore

    store = ImageStore()
    policies = image_policies(stack, build_all)
    ids: dict[str, str | None] = {}
    for resource in graph.resources():
        if resource.kind != "image":
            continue
        reference = resource.name
        policy, builders = policies.get(reference, ("missing", ()))
        try:
            record = store.resolve(reference)
        except StackrError as error:
            raise ApplyError(f"image {reference}: {error}") from None
        if only is not None and resource not in only:
            ids[reference] = record.id if record is not None else None
            continue
        if builders and (policy == "build" or record is None):
            if pull:  # (not on --dry-run)
                ids[reference] = build_image(loaded, builders[0])
            else:
                ids[reference] = record.id if record is not None else None
            continue
        if pull and ((record is None and policy != "never") or policy == "always"):
            print(f"Image {reference}  Pulling", file=sys.stderr, flush=True)
            try:
                record = store.pull(reference)
            except StackrError as error:
                raise ApplyError(
                    f"image {reference}: not in the store and the pull failed: {error} "
                    "(load it with `stackr load`, import one with `stackr image import`, "
                    "or build it with `stackr build`)"
                ) from None
            print(f"Image {reference}  Pulled", file=sys.stderr, flush=True)
        if record is None and policy == "never" and pull:
            raise ApplyError(f"image {reference}: not in the store (pull_policy: never)")
        ids[reference] = record.id if record is not None else None
    return ids


def build_image(loaded: LoadedStack, service_name: str) -> str:
    """Build ``service_name``'s image as ``stackr build`` does; its id."""
    import os

    from stackr.build.builder import build_service_image
    from stackr.build.engine_backend import EngineBackend
    from stackr.errors import PreconditionError

    if os.geteuid() != 0:
        raise PreconditionError("building images needs root (overlay mounts, containers)")
    raw = loaded.raw
    service = loaded.stack.services[service_name]
    print(f"Image for {service_name}  Building", file=sys.stderr, flush=True)
    with EngineBackend() as backend:
        result = build_service_image(raw.project_name, raw.project_dir, service_name, service,
                                     backend, environ=raw.environment)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"Image for {service_name}  Built {result.image_id[:19]}", file=sys.stderr,
          flush=True)
    image_id: str = result.image_id
    return image_id


PROGRESS_MODES = ("auto", "tty", "plain", "json", "quiet")


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                        help="progress display: tty (one line per resource, redrawn), "
                             "plain (one line per event), json, quiet; auto: tty on a "
                             "terminal, else plain")


def progress_sink(mode: str = "auto") -> ProgressPrinter:
    if mode == "auto":
        mode = "tty" if sys.stderr.isatty() else "plain"
    return ProgressPrinter(mode)


def _kind(event: Progress) -> str:
    return {"service": "Container", "network": "Network", "volume": "Volume"}.get(
        event.resource.kind, event.resource.kind)


class ProgressPrinter:
    """Compose's progress on stderr: ``plain`` one line per finished step, ``tty`` one
    line per resource redrawn in place, ``json`` one object per event, ``quiet`` none."""

    def __init__(self, mode: str = "plain") -> None:
        self.mode = mode
        self._lock = threading.Lock()
        self._lines: dict[str, str] = {}  # resource → its current line (tty)
        self._drawn = 0

    def __call__(self, event: Progress) -> None:
        with self._lock:
            if self.mode == "json":
                import json

                print(json.dumps({"resource": str(event.resource), "name": event.name,
                                  "state": event.state, "detail": event.detail,
                                  "elapsed": round(event.elapsed, 3)}),
                      file=sys.stderr, flush=True)
            elif self.mode == "tty":
                self._redraw(event)
            elif self.mode == "plain" and event.state not in (
                "Creating", "Starting", "Stopping", "Removing", "Restarting"
            ):
                detail = f"  {event.detail}" if event.detail else ""
                print(f"{_kind(event)} {event.name}  {event.state}{detail}  "
                      f"{event.elapsed:.1f}s", file=sys.stderr, flush=True)

    def _redraw(self, event: Progress) -> None:
        colour = {"Error": "31", "Warning": "33", "Waiting": "33"}.get(event.state, "32")
        mark = "\u2714" if event.state.endswith("ed") and event.state != "Error" else (
            "\u2718" if event.state == "Error" else "\u2026")
        detail = f" {event.detail}" if event.detail else ""
        self._lines[str(event.resource)] = (
            f" \033[{colour}m{mark}\033[0m {_kind(event)} {event.name:<30} "
            f"{event.state}{detail}  {event.elapsed:.1f}s"
        )
        text = "\033[F" * self._drawn + "".join(
            f"\033[2K{line}\n" for line in self._lines.values())
        sys.stderr.write(text)
        sys.stderr.flush()
        self._drawn = len(self._lines)


def print_warnings(warnings: Any) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
