"""``stackr stats [--no-stream] [SERVICE...]``: CPU, memory and pids of the project's
running containers, read from their cgroups by the engine."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("services", nargs="*", metavar="SERVICE")
    parser.add_argument("--no-stream", action="store_true", help="print one sample and exit")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def _bytes(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f}{unit}" if unit != "B" else f"{int(value)}B"
        value /= 1024
    return f"{value:.1f}GiB"


def cpu_percent(before_ns: int, after_ns: int, seconds: float) -> float:
    """CPU use over an interval, in percent of one CPU (as ``docker stats``)."""
    if seconds <= 0:
        return 0.0
    return max(0.0, (after_ns - before_ns) / (seconds * 1e9) * 100)


def _sample(client: Any, handles: dict[str, str]) -> dict[str, dict[str, Any]]:
    from stackr.errors import StackrError

    samples = {}
    for name, handle in handles.items():
        try:
            samples[name] = client.container_stats(handle)
        except StackrError:  # it stopped between listing and sampling: leave it out
            continue
    return samples


def render(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
           seconds: float) -> list[str]:
    rows = [("NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS")]
    for name in sorted(after):
        now = after[name]
        then = before.get(name, now)
        cpu = cpu_percent(then["cpu_stats"]["cpu_usage"]["total_usage"],
                          now["cpu_stats"]["cpu_usage"]["total_usage"], seconds)
        memory = now["memory_stats"]
        limit = memory.get("limit")
        rows.append((name, f"{cpu:.2f}%",
                     f"{_bytes(memory.get('usage'))} / {_bytes(limit) if limit else 'unlimited'}",
                     str(now["pids_stats"].get("current") or 0)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return ["   ".join(value.ljust(width) for value, width in zip(row, widths, strict=True))
            .rstrip() for row in rows]


def run(args: argparse.Namespace) -> int:
    import json

    from stackr.commands.project_session import client_for, project_for_records
    from stackr.project.observe import observe

    project = project_for_records(args)
    client = client_for(args)
    observation = observe(client, project)
    names = observation.display_names()
    handles = {names[r]: observation.handles[r]
               for r in observation.service_containers(tuple(args.services), require=True)
               if observation.resources[r].running}
    interval = 1.0
    before = _sample(client, handles)
    started = time.monotonic()
    while True:
        time.sleep(interval)
        after = _sample(client, handles)
        seconds = time.monotonic() - started
        if args.format == "json":
            print(json.dumps(after, sort_keys=True))
        else:
            if not args.no_stream and sys.stdout.isatty():
                print("\x1b[2J\x1b[H", end="")  # redraw in place, as docker stats
            print("\n".join(render(before, after, seconds)), flush=True)
        if args.no_stream:
            return 0
        before, started = after, time.monotonic()
