"""``stackr ls [-a] [--format json]``: the projects on this engine and their state."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="also stopped projects")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from collections import Counter, defaultdict

    from stackr.commands.project_session import client_for
    from stackr.naming import LABEL_PROJECT

    client = client_for(args)
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for container in client.containers(all=True, filters={"label": [LABEL_PROJECT]}):
        project = (container.get("Labels") or {}).get(LABEL_PROJECT)
        if project:
            states[project][str(container.get("State"))] += 1
    rows = [
        {"Name": name, "Status": ", ".join(f"{state}({count})"
                                           for state, count in sorted(counts.items()))}
        for name, counts in sorted(states.items())
        if args.all or counts.get("running")
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    width = max([len("NAME"), *(len(row["Name"]) for row in rows)])
    print(f"{'NAME':<{width}}   STATUS")
    for row in rows:
        print(f"{row['Name']:<{width}}   {row['Status']}")
    return 0
