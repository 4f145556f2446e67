"""``stackr run [--rm] SERVICE [CMD...]``: a one-off container of a service.

As ``docker compose run``: what the service needs (networks, volumes, the services it
depends on) is brought up first, then a container of the service's configuration runs
the command with its output on this terminal; stackr's exit code is the command's. The
container is named ``<project>-<service>-run-<hex>``, carries no service alias, publishes
no ports and is not one of the service's replicas (``up``/``down`` leave it alone unless
``--rm`` removed it already).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from stackr.commands.stdio_session import copy_stdio

if TYPE_CHECKING:
    from stackr.client import EngineClient


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rm", action="store_true", help="remove the container afterwards")
    parser.add_argument("--no-deps", action="store_true", help="do not start the services "
                        "it depends on")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-u", "--user", default=None)
    parser.add_argument("-w", "--workdir", default=None, metavar="DIR")
    parser.add_argument("--entrypoint", default=None, metavar="CMD")
    parser.add_argument("-T", "--no-tty", action="store_true",
                        help="no TTY (one is given when stdin and stdout are terminals)")
    parser.add_argument("-d", "--detach", action="store_true",
                        help="run in the background; print the container's name")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD")


def one_off_body(body: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """A replica's create body turned into a one-off's: the command line's overrides,
    no replica labels, no aliases, no published ports, no restart policy."""
    import shlex

    from stackr.naming import LABEL_CONFIG_HASH, LABEL_REPLICA
    from stackr.project.names import LABEL_CONFIG, LABEL_NEEDS, LABEL_ONEOFF

    body = {**body, "HostConfig": dict(body.get("HostConfig") or {})}
    if args.command:
        body["Cmd"] = list(args.command)
    if args.entrypoint is not None:
        body["Entrypoint"] = shlex.split(args.entrypoint)
        body.setdefault("Cmd", [])
    if args.env:
        body["Env"] = [*(body.get("Env") or []), *args.env]
    if args.user:
        body["User"] = args.user
    if args.workdir:
        body["WorkingDir"] = args.workdir
    labels = {key: value for key, value in (body.get("Labels") or {}).items()
              if key not in (LABEL_REPLICA, LABEL_CONFIG_HASH, LABEL_CONFIG, LABEL_NEEDS)}
    labels[LABEL_ONEOFF] = "1"
    body["Labels"] = labels
    host_config = body["HostConfig"]
    host_config.pop("PortBindings", None)
    host_config["RestartPolicy"] = {"Name": "no"}
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig")
    if endpoints:
        body["NetworkingConfig"] = {"EndpointsConfig": {
            name: {**endpoint, "Aliases": []} for name, endpoint in endpoints.items()
        }}
    return body


def run(args: argparse.Namespace) -> int:
    import secrets as random

    from stackr.commands.project_options import load_project
    from stackr.commands.project_session import client_for, progress_sink
    from stackr.commands.stdio_session import terminal_size, wants_tty
    from stackr.errors import UsageError
    from stackr.graph import ResourceId, build_graph
    from stackr.plan import UpOptions
    from stackr.project import secrets
    from stackr.project.converge import converge
    from stackr.project.translate import container_body

    for item in args.env:
        if "=" not in item:
            raise UsageError(f"-e {item!r}: use KEY=VALUE")
    loaded = load_project(args)
    stack = loaded.stack
    if args.service not in stack.services:
        raise UsageError(f"no such service: {args.service}")
    graph = build_graph(stack, loaded.raw.source_map)
    client = client_for(args)
    # Images are resolved (built or pulled) once, there: the one-off uses the same ids.
    desired = converge(
        client, loaded, stack, graph,
        UpOptions(services=(args.service,), needs_only=True, no_deps=args.no_deps),
        progress=progress_sink("quiet"), on_wait=lambda text: print(text, file=sys.stderr),
    ).desired
    service = stack.services[args.service]
    secret_files = None
    if service.secrets or service.configs:
        secret_files = secrets.plan_files(stack, args.service, service, loaded.raw.environment,
                                          secrets.project_directory(stack.name))
        secrets.write_files(secret_files)
    body = one_off_body(container_body(stack, ResourceId("service", args.service, 1), desired,
                                       secret_files), args)
    name = f"{stack.name}-{args.service}-run-{random.token_hex(3)}"
    if args.detach:
        if args.rm:
            body["HostConfig"]["AutoRemove"] = True
        client.container_start(client.container_create(body, name))
        print(name)
        return 0
    tty = wants_tty(args.no_tty)
    # Interactive, as compose run is: stdin attached (its end is the command's EOF).
    body.update(Tty=tty, OpenStdin=True, StdinOnce=True, AttachStdin=True)
    if tty:
        body["HostConfig"]["ConsoleSize"] = list(terminal_size())
    container_id = client.container_create(body, name)
    try:
        return _run_attached(client, container_id, tty)
    finally:
        if args.rm:
            client.container_remove(container_id, force=True)


def _run_attached(client: EngineClient, container_id: str, tty: bool) -> int:
    import contextlib

    # Attached before the start: no output is missed.
    session = client.container_attach(container_id)
    try:
        client.container_start(container_id)
        copy_stdio(session, tty,
                   lambda rows, columns: client.container_resize(container_id, rows, columns))
        result = client.container_wait(container_id)
    except KeyboardInterrupt:  # without a TTY; with one, ^C goes to the container
        with contextlib.suppress(Exception):
            client.container_stop(container_id, timeout=10)
        raise
    finally:
        session.close()
    return int(result.get("StatusCode", 1))
