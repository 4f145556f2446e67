"""``stackr exec SERVICE CMD...``: run a command in a running service container; its
exit code is stackr's."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--detach", action="store_true",
                        help="run the command in the background")
    parser.add_argument("-T", "--no-tty", action="store_true",
                        help="no TTY (one is given when stdin and stdout are terminals)")
    parser.add_argument("-u", "--user", default=None)
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-w", "--workdir", default=None, metavar="DIR")
    parser.add_argument("--index", type=int, default=1, metavar="N", help="which replica")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.commands.stdio_session import copy_stdio, terminal_size, wants_tty
    from stackr.errors import UsageError
    from stackr.graph import ResourceId
    from stackr.project.observe import observe

    if not args.command:
        raise UsageError("exec: give a command to run")
    for item in args.env:
        if "=" not in item:
            raise UsageError(f"-e {item!r}: use KEY=VALUE")
    project = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    resource = ResourceId("service", args.service, args.index)
    if resource not in observation.handles:
        raise UsageError(f"service {args.service} (replica {args.index}) has no container "
                         f"in project {project}")
    command = list(args.command)
    tty = not args.detach and wants_tty(args.no_tty)
    body: dict[str, object] = {"Cmd": command, "Env": list(args.env), "AttachStdout": True,
                               "AttachStderr": True, "AttachStdin": not args.detach,
                               "Tty": tty}
    if tty:
        body["ConsoleSize"] = list(terminal_size())
    if args.user:
        body["User"] = args.user
    if args.workdir:
        body["WorkingDir"] = args.workdir
    exec_id = client.exec_create(observation.handles[resource], body)
    if args.detach:
        client.exec_start_detached(exec_id)
        return 0
    copy_stdio(client.exec_attach(exec_id), tty,
               lambda rows, columns: client.exec_resize(exec_id, rows, columns))
    exit_code = client.exec_inspect(exec_id).get("ExitCode")
    return int(exit_code) if exit_code is not None else 1
