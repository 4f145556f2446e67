"""Running a command many times and summarising its wall-clock times."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    name: str
    runs: int
    median_ms: float
    p95_ms: float
    min_ms: float

    def row(self) -> str:
        return (
            f"{self.name:<44} {self.median_ms:>8.1f} {self.p95_ms:>8.1f} "
            f"{self.min_ms:>8.1f}  (n={self.runs})"
        )


HEADER = f"{'benchmark':<44} {'p50 ms':>8} {'p95 ms':>8} {'min ms':>8}"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def time_command(
    name: str,
    command: Sequence[str],
    runs: int = 20,
    warmup: int = 2,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Timing:
    """Wall-clock time of the whole process, from spawn to exit; output discarded."""
    environment = dict(os.environ if env is None else env)
    # Users' Pythons cache bytecode; a development shell that turns it off would
    # measure compilation instead of stackr.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    samples: list[float] = []
    for attempt in range(warmup + runs):
        started = time.perf_counter()
        result = subprocess.run(
            command,
            env=environment,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = (time.perf_counter() - started) * 1000
        if result.returncode != 0:
            raise RuntimeError(f"{name}: {command} failed: {result.stderr.decode()[-500:]}")
        if attempt >= warmup:
            samples.append(elapsed)
    return Timing(name, runs, statistics.median(samples), percentile(samples, 0.95), min(samples))
