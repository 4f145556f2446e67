"""Logs of several containers at once, each line prefixed (and, on a terminal,
coloured) by its container, as ``docker compose logs``/attached ``up`` show them.

One reader thread per container puts lines on a queue; only the caller's thread
prints, so lines never interleave mid-line.
"""

from __future__ import annotations

import queue
import sys
import threading

from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by logs
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

COLOURS = (36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96)


@frozen_record
class LogLine:
    name: str
    text: str


@frozen_record
class Exited:
    name: str
    exit_code: int


@frozen_record
class Ended:
    """A container's stream is over: its reader put everything it had before this."""

    name: str


class Prefixer:
    def __init__(self, names: list[str], colour: bool) -> None:
        self.width = max((len(name) for name in names), default=0)
        self.colour = colour
        self.codes = {name: COLOURS[index % len(COLOURS)] for index, name in enumerate(names)}

    def line(self, name: str, text: str) -> str:
        prefix = f"{name:<{self.width}} | "
        if self.colour:
            prefix = f"\033[{self.codes.get(name, 0)}m{prefix}\033[0m"
        return prefix + text.rstrip("\n")


class LogStreams:
    def __init__(self, client_factory: Callable[[], Any], timestamps: bool = False) -> None:
        self.client_factory = client_factory
        self.timestamps = timestamps
        self.events: queue.Queue[LogLine | Exited | Ended] = queue.Queue()

    def follow(self, name: str, container_id: str, *, follow: bool, tail: int | None,
               since: float | None = None, watch_exit: bool = False) -> threading.Thread:
        def read() -> None:
            client = self.client_factory()
            try:
                for entry in client.container_logs(container_id, follow=follow, tail=tail,
                                                   since=since, timestamps=self.timestamps):
                    text = entry.get("log", "")
                    if self.timestamps and entry.get("time"):
                        text = f"{entry['time']} {text}"
                    self.events.put(LogLine(name, text))
                if watch_exit:
                    code = client.container_wait(container_id).get("StatusCode", 0)
                    self.events.put(Exited(name, int(code)))
            except Exception as error:  # the container went away: say so, keep the others
                self.events.put(LogLine(name, f"(logs ended: {error})\n"))
                if watch_exit:
                    self.events.put(Exited(name, -1))
            finally:
                client.close()
                self.events.put(Ended(name))

        thread = threading.Thread(target=read, name=f"logs-{name}", daemon=True)
        thread.start()
        return thread


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
