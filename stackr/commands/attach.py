"""Attached ``up``: stream every service's logs, prefixed by container, until they all
exit; Ctrl-C stops the stack gracefully and a second Ctrl-C kills it."""

from __future__ import annotations

import queue
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from stackr.commands.log_stream import Ended, Exited, LogLine, LogStreams, Prefixer

if TYPE_CHECKING:
    from stackr.client import EngineClient
    from stackr.project.observe import Observation

EXIT_INTERRUPTED = 130


def container_names(observation: Observation, services: tuple[str, ...]
                    ) -> list[tuple[str, str, str]]:
    """(service, container name, container id) of the selected containers."""
    rows = []
    for resource in observation.service_containers(services):
        summary = observation.containers[resource]
        rows.append((resource.name, summary["Names"][0].lstrip("/"), summary["Id"]))
    return rows


def _all(ids: list[str], action: Callable[[str], None]) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(ids))) as pool:
        for future in [pool.submit(action, container_id) for container_id in ids]:
            try:
                future.result()
            except Exception as error:  # one that is already gone must not stop the rest
                print(f"warning: {error}", file=sys.stderr)


def attach(client: EngineClient, observation: Observation, services: tuple[str, ...],
           since: float, abort_on_exit: bool, exit_code_from: str | None,
           timeout: int | None, unattached: frozenset[str] = frozenset()) -> int:
    """``unattached``: services with ``attach: false``: not followed, but stopped too."""
    everything = container_names(observation, services)
    ids = [container_id for _, _, container_id in everything]
    rows = [row for row in everything if row[0] not in unattached]
    prefixer = Prefixer([name for _, name, _ in rows], colour=sys.stdout.isatty())
    streams = LogStreams(lambda: client)
    service_of = {name: service for service, name, _ in rows}
    for _, name, container_id in rows:
        streams.follow(name, container_id, follow=True, tail=None, since=since,
                       watch_exit=True)
    running = {name for _, name, _ in rows}
    exit_code = 0
    try:
        while running:
            try:
                event = streams.events.get(timeout=0.5)
            except queue.Empty:
                continue
            if isinstance(event, LogLine):
                print(prefixer.line(event.name, event.text), flush=True)
                continue
            if isinstance(event, Ended):
                continue  # its Exited came before
            assert isinstance(event, Exited)
            running.discard(event.name)
            print(f"{event.name} exited with code {event.exit_code}", flush=True)
            if exit_code_from is not None and service_of[event.name] == exit_code_from:
                exit_code = event.exit_code
            if abort_on_exit:
                if exit_code_from is None:
                    exit_code = event.exit_code
                print("Aborting on container exit...", file=sys.stderr, flush=True)
                _all(ids, lambda container_id: client.container_stop(container_id, timeout))
                if exit_code_from is not None and service_of[event.name] != exit_code_from:
                    target = [cid for service, _, cid in everything if service == exit_code_from]
                    if target:
                        exit_code = int(client.container_inspect(target[0])["State"]
                                        .get("ExitCode", 0))
                return exit_code
    except KeyboardInterrupt:
        print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr,
              flush=True)
        try:
            _all(ids, lambda container_id: client.container_stop(container_id, timeout))
        except KeyboardInterrupt:
            print("Killing...", file=sys.stderr, flush=True)
            _all(ids, lambda container_id: client.container_kill(container_id, "SIGKILL"))
        return EXIT_INTERRUPTED
    return exit_code
