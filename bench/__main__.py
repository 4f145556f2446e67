"""``python -m bench``: run the benchmarks and print a table (also saved under bench/results).

Figures are whole-process wall-clock times on this machine; Docker's tools are measured
beside stackr when they are installed (Debian's docker-compose, the Docker CLI).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.stackfiles import write_many_services
from bench.timing import HEADER, Timing, time_command


def cli_benchmarks(runs: int) -> list[Timing]:
    stackr = [sys.executable, "-m", "stackr"]
    entry = shutil.which("stackr", path=str(Path(sys.executable).parent))
    if entry:
        stackr = [entry]
    timings = [
        time_command("python -c pass (interpreter floor)", [sys.executable, "-c", "pass"], runs),
        time_command("stackr --version", [*stackr, "--version"], runs),
        time_command("stackr --help", [*stackr, "--help"], runs),
    ]
    with tempfile.TemporaryDirectory() as directory:
        stack_file = write_many_services(Path(directory))
        (Path(directory) / "conf").mkdir()
        timings.append(
            time_command(
                "stackr config (50 services)", [*stackr, "-f", str(stack_file), "config"], runs
            )
        )
        timings.append(
            time_command(
                "stackr config -q (50 services)",
                [*stackr, "-f", str(stack_file), "config", "-q"],
                runs,
            )
        )
        compose = shutil.which("docker-compose")
        if compose:
            # docker-compose 1.x refuses the top-level name: (it takes -p): its copy has none
            compose_file = Path(directory) / "compose-v1.yaml"
            compose_file.write_text("".join(
                line for line in stack_file.read_text().splitlines(keepends=True)
                if not line.startswith("name:")
            ))
            timings.append(
                time_command(
                    "docker-compose config (50 services)",
                    [compose, "-f", str(compose_file), "-p", "bench", "config"],
                    min(runs, 10),
                )
            )
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("STACKR_ROOT", tempfile.mkdtemp(prefix="stackr-bench-root-"))
    os.environ.setdefault("STACKR_RUN", tempfile.mkdtemp(prefix="stackr-bench-run-"))
    timings = cli_benchmarks(args.runs)
    report = "\n".join([HEADER, *(timing.row() for timing in timings)])
    print(report)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "cli.txt").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
