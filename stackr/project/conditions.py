"""Waiting for a container to reach a ``depends_on`` condition (or ``up --wait``'s
"running or healthy"). A failure names the container and shows its last log lines.
"""

from __future__ import annotations

import time

from stackr.errors import ApplyError

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down
if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator
    from typing import Any, Protocol

    JsonObject = dict[str, Any]

    class ContainerReader(Protocol):  # a Protocol is for mypy only
        def container_inspect(self, container: str) -> JsonObject: ...

        def container_wait(self, container: str, condition: str = "not-running"
                           ) -> JsonObject: ...

        def container_logs(self, container: str, *, follow: bool = False,
                           tail: int | None = None, timestamps: bool = False,
                           stdout: bool = True, stderr: bool = True,
                           since: float | None = None) -> Iterator[JsonObject]: ...

POLL_SECONDS = 0.05
LOG_LINES_SHOWN = 10


class ConditionError(ApplyError):
    """A dependency did not reach its condition."""


def last_log_lines(client: ContainerReader, container: str, count: int = LOG_LINES_SHOWN
                   ) -> str:
    try:
        entries = list(client.container_logs(container, tail=count))
    except Exception:  # the logs only illustrate the error being raised
        return ""
    return "".join(f"    {entry.get('log', '')}" for entry in entries).rstrip("\n")


def _failure(client: ContainerReader, name: str, what: str) -> ConditionError:
    lines = last_log_lines(client, name)
    suffix = f"; its last log lines:\n{lines}" if lines else ""
    return ConditionError(f"container {name} {what}{suffix}")


def wait_started(client: ContainerReader, name: str) -> None:
    state = client.container_inspect(name)["State"]
    if state.get("Status") == "created":
        raise ConditionError(f"container {name} was never started")


def _pause(cancelled: threading.Event | None) -> None:
    if cancelled is None:
        time.sleep(POLL_SECONDS)
    elif cancelled.wait(POLL_SECONDS):
        raise ConditionError("interrupted")


def wait_healthy(client: ContainerReader, name: str, deadline: float | None = None,
                 cancelled: threading.Event | None = None) -> None:
    # The engine publishes health changes as events too; polling inspect keeps this
    # independent of the event stream's connection, costs one request per 50 ms and
    # can be interrupted (a blocked stream could not).
    while True:
        state = client.container_inspect(name)["State"]
        health = (state.get("Health") or {}).get("Status")
        if health == "healthy":
            return
        if health is None:
            raise ConditionError(f"container {name} has no healthcheck (needed for "
                                 "condition service_healthy)")
        if health == "unhealthy":
            raise _failure(client, name, "is unhealthy")
        if state.get("Status") not in ("running", "restarting"):
            raise _failure(client, name, f"exited with code {state.get('ExitCode')} before "
                           "it was healthy")
        if deadline is not None and time.monotonic() > deadline:
            raise ConditionError(f"container {name} is not healthy yet (timeout)")
        _pause(cancelled)


def wait_completed(client: ContainerReader, name: str,
                   cancelled: threading.Event | None = None) -> None:
    """Until the container has exited (polled, so that Ctrl-C can interrupt it)."""
    while True:
        state = client.container_inspect(name)["State"]
        if state.get("Status") not in ("running", "restarting"):
            break
        _pause(cancelled)
    code = state.get("ExitCode", 0)
    if code != 0:
        raise _failure(client, name, f"exited with code {code}")


def wait_condition(client: ContainerReader, name: str, condition: str,
                   cancelled: threading.Event | None = None) -> None:
    if condition == "service_healthy":
        wait_healthy(client, name, cancelled=cancelled)
    elif condition == "service_completed_successfully":
        wait_completed(client, name, cancelled)
    else:
        wait_started(client, name)


def wait_running_or_healthy(client: ContainerReader, name: str, deadline: float | None
                            ) -> None:
    """``up --wait``: running (healthy if it has a healthcheck), or exited with 0."""
    state = client.container_inspect(name)["State"]
    if state.get("Health") is not None:
        wait_healthy(client, name, deadline)
    elif state.get("Status") not in ("running", "restarting") and state.get("ExitCode"):
        raise _failure(client, name, f"exited with code {state.get('ExitCode')}")
