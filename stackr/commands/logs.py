"""``stackr logs``: the output of the project's containers, prefixed by container."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE")
    parser.add_argument("-f", "--follow", action="store_true",
                        help="follow the output (-f is the stack file, as everywhere)")
    parser.add_argument("-n", "--tail", default="all", metavar="N",
                        help="lines from the end of each container's log (default all)")
    parser.add_argument("-t", "--timestamps", action="store_true")
    parser.add_argument("--since", type=float, default=None, metavar="UNIX_TIME")
    parser.add_argument("--no-log-prefix", action="store_true")


def run(args: argparse.Namespace) -> int:
    from stackr.commands.log_stream import Ended, LogLine, LogStreams, Prefixer
    from stackr.commands.project_session import client_for, project_for_records
    from stackr.errors import UsageError
    from stackr.project.observe import observe

    if args.tail != "all" and not str(args.tail).isdigit():
        raise UsageError(f"--tail {args.tail!r}: a number or 'all'")
    tail = None if args.tail == "all" else int(args.tail)
    project = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    containers = observation.service_containers(tuple(args.services), require=True)
    names = [observation.containers[r]["Names"][0].lstrip("/") for r in containers]
    prefixer = Prefixer(names, colour=sys.stdout.isatty())
    streams = LogStreams(lambda: client, timestamps=args.timestamps)
    for name, resource in zip(names, containers, strict=True):
        streams.follow(name, observation.handles[resource], follow=args.follow, tail=tail,
                       since=args.since)
    try:
        # Until every stream has said it ended (not a poll of the threads: the last
        # one's end would be noticed only at the next timeout).
        open_streams = len(names)
        while open_streams:
            event = streams.events.get()
            if isinstance(event, Ended):
                open_streams -= 1
            elif isinstance(event, LogLine):
                text = event.text.rstrip("\n") if args.no_log_prefix else \
                    prefixer.line(event.name, event.text)
                print(text, flush=args.follow)
    except KeyboardInterrupt:
        return 0
    return 0
