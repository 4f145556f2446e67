"""``stackr build [SERVICE...]``: build the images of the services that have ``build:``.

Each image is named after the service's ``image:``, else ``<project>-<service>`` (as
docker compose names it). Steps are printed as they finish, ``CACHED`` when their layer
came from the build cache.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from stackr.errors import PreconditionError, UsageError

if TYPE_CHECKING:
    from stackr.build.builder import StepReport
    from stackr.build.engine_backend import EngineBackend


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE",
                        help="services to build (default: every service with build:)")
    parser.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    parser.add_argument("--pull", action="store_true",
                        help="always try to pull a newer version of the base images")
    parser.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="set a build argument (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only image ids")


def _parse_build_args(values: list[str], environ: dict[str, str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        key, has_value, item = value.partition("=")
        if not key:
            raise UsageError(f"--build-arg {value!r}: expected KEY=VALUE")
        if has_value:
            result[key] = item
        elif key in environ:
            result[key] = environ[key]
    return result


def run(args: argparse.Namespace) -> int:
    from stackr.build.engine_backend import EngineBackend
    from stackr.commands.project_options import load_project

    loaded = load_project(args)
    stack, raw = loaded.stack, loaded.raw
    buildable = {name: svc for name, svc in stack.services.items() if svc.build is not None}
    names = list(args.services) or sorted(buildable)
    for name in names:
        if name not in stack.services:
            raise UsageError(f"no such service: {name}")
        if name not in buildable:
            raise UsageError(f"service {name} has no build: section")
    if not names:
        return 0
    if os.geteuid() != 0:
        raise PreconditionError("building images needs root (overlay mounts, containers)")
    build_args = _parse_build_args(args.build_arg, dict(os.environ))
    with EngineBackend() as backend:
        return _build_all(args, names, buildable, raw, backend, build_args)


def _build_all(args: argparse.Namespace, names: list[str], buildable: dict[str, Any],
               raw: Any, backend: EngineBackend, build_args: dict[str, str]) -> int:
    from stackr.build.builder import build_service_image, image_name

    for name in names:
        service = buildable[name]
        tag = image_name(raw.project_name, name, service.image)

        def show(step: StepReport, service_name: str = name) -> None:
            if args.quiet:
                return
            state = "CACHED" if step.cached else f"{step.seconds:.1f}s"
            if step.cached is None:
                state = ""
            first_line = step.text.splitlines()[0] if step.text else ""
            print(f"[{service_name} {step.stage}] {first_line} {state}".rstrip(),
                  file=sys.stderr)

        result = build_service_image(
            raw.project_name, raw.project_dir, name, service, backend,
            environ=raw.environment, no_cache=args.no_cache, pull=args.pull,
            build_args=build_args, progress=show)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if args.quiet:
            print(result.image_id)
        else:
            print(f"built {tag} {result.image_id[:19]} "
                  f"({result.cached_steps}/{result.layer_steps} steps cached)")
    return 0
