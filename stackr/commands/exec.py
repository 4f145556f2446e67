"""``stackr exec SERVICE CMD...``: run a command in a running service container; its
exit code is stackr's."""

from __future__ import annotations

import argparse
import base64
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-T", "--no-tty", action="store_true",
                        help="accepted: exec has no TTY yet")
    parser.add_argument("-u", "--user", default=None)
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-w", "--workdir", default=None, metavar="DIR")
    parser.add_argument("--index", type=int, default=1, metavar="N", help="which replica")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.errors import UsageError
    from stackr.graph import ResourceId
    from stackr.project.observe import observe

    if not args.command:
        raise UsageError("exec: give a command to run")
    for item in args.env:
        if "=" not in item:
            raise UsageError(f"-e {item!r}: use KEY=VALUE")
    project, _ = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    resource = ResourceId("service", args.service, args.index)
    if resource not in observation.handles:
        raise UsageError(f"service {args.service} (replica {args.index}) has no container "
                         f"in project {project}")
    command = list(args.command)
    if args.workdir:
        # The engine's exec has no working directory yet: change to it in a shell.
        command = ["sh", "-c", 'cd "$0" && exec "$@"', args.workdir, *command]
    body = {"Cmd": command, "Env": list(args.env), "AttachStdout": True, "AttachStderr": True}
    if args.user:
        body["User"] = args.user
    exec_id = client.exec_create(observation.handles[resource], body)
    exit_code = 0
    for entry in client.exec_start(exec_id):
        if "ExitCode" in entry:
            exit_code = int(entry["ExitCode"])
        elif "data_base64" in entry:
            sys.stdout.buffer.write(base64.b64decode(entry["data_base64"]))
            sys.stdout.flush()
        elif "data" in entry:
            sys.stdout.write(entry["data"])
            sys.stdout.flush()
    return exit_code
