"""Healthchecks: a probe run in the container at an interval, and the health state.

``HealthState`` is pure (Docker's rules): the status starts as ``starting``; a
passing probe makes it ``healthy`` and resets the failing streak; ``Retries``
consecutive failures make it ``unhealthy``, except that failures during the start
period do not count. During the start period probes run every ``StartInterval``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackr.engine import logs, nsexec

if TYPE_CHECKING:
    from stackr.engine.containers import ContainerManager, Supervised

NANOS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
LOG_ENTRIES = 5


@dataclass(frozen=True)
class HealthConfig:
    args: list[str]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = 0.0
    start_interval: float = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES

    @classmethod
    def from_docker(cls, value: Any) -> HealthConfig | None:
        if not value or not value.get("Test") or value["Test"][0] == "NONE":
            return None
        test = value["Test"]
        args = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]

        def seconds(key: str, default: float) -> float:
            return value.get(key) / NANOS if value.get(key) else default

        return cls(
            args=args,
            interval=seconds("Interval", DEFAULT_INTERVAL),
            timeout=seconds("Timeout", DEFAULT_TIMEOUT),
            start_period=seconds("StartPeriod", 0.0),
            start_interval=seconds("StartInterval", DEFAULT_START_INTERVAL),
            retries=value.get("Retries") or DEFAULT_RETRIES,
        )


@dataclass
class HealthState:
    status: str = "starting"
    failing_streak: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def record(self, passed: bool, in_start_period: bool, retries: int,
               entry: dict[str, Any]) -> bool:
        """Apply one probe result; True when the status changed."""
        before = self.status
        self.log = [*self.log, entry][-LOG_ENTRIES:]
        if passed:
            self.failing_streak = 0
            self.status = "healthy"
        elif not in_start_period:
            self.failing_streak += 1
            if self.failing_streak >= retries:
                self.status = "unhealthy"
        return self.status != before

    def to_json(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak, "Log": self.log}


class HealthMonitor:
    def __init__(self, manager: ContainerManager, supervised: Supervised,
                 config: HealthConfig) -> None:
        self.manager = manager
        self.supervised = supervised
        self.config = config
        self.state = HealthState()
        self._stopped = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"health-{supervised.container_id[:12]}", daemon=True
        )

    def start(self) -> None:
        self.supervised.state["Health"] = self.state.to_json()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _in_start_period(self) -> bool:
        return time.monotonic() - self._started < self.config.start_period

    def _run(self) -> None:
        while True:
            in_start = self._in_start_period()
            wait = self.config.start_interval if in_start else self.config.interval
            if self._stopped.wait(wait) or self.manager.stopping.is_set():
                return
            self._probe()

    def _probe(self) -> None:
        supervised = self.supervised
        pid = supervised.state.get("Pid") or 0
        if not pid:
            return
        in_start = self._in_start_period()
        start = time.time_ns()
        try:
            result = nsexec.run(
                supervised.container_id, pid, self.config.args,
                supervised.record["Config"].get("Env", []), self.config.timeout,
                supervised.record["Config"].get("User") or "",
            )
            exit_code = result.exit_code
            output = result.output.decode(errors="replace")
            if result.timed_out:
                output = f"health check exceeded timeout ({self.config.timeout:g}s)"
        except (OSError, nsexec.ExecError) as error:
            exit_code, output = -1, str(error)
        entry = {"Start": logs.rfc3339(start), "End": logs.rfc3339(time.time_ns()),
                 "ExitCode": exit_code, "Output": output}
        with supervised.lock:
            if self._stopped.is_set():
                return
            changed = self.state.record(exit_code == 0, in_start, self.config.retries, entry)
            if changed:
                self.manager.health_changed(supervised, self.state.status, self.state.to_json())
            else:
                supervised.state["Health"] = self.state.to_json()
                self.manager.records.put(supervised.container_id, supervised.record)


def start_monitor(manager: ContainerManager, supervised: Supervised) -> HealthMonitor | None:
    config = HealthConfig.from_docker(supervised.record["Config"].get("Healthcheck"))
    if config is None:
        return None
    monitor = HealthMonitor(manager, supervised, config)
    monitor.start()
    return monitor
