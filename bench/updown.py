"""``python -m bench.updown``: whole-process times of ``stackr up -d`` (cold), a no-op
``up -d`` and ``down`` of stacks of N services with a chain of ``depends_on``.

Runs against a private engine (its own STACKR_ROOT/STACKR_RUN under a temporary
directory, started on demand by the first command and stopped at the end) with a
busybox image made offline from the host's static busybox. docker-compose is measured
beside it only when a Docker daemon answers (``docker info``); it is skipped otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_chain(directory: Path, count: int) -> Path:
    """``count`` services; each depends on the one before (started), one network."""
    lines = ["name: benchupdown", "services:"]
    for index in range(count):
        lines += [
            f"  svc{index}:",
            "    image: busybox:latest",
            "    init: true",
            '    command: ["sleep", "3600"]',
            "    environment:",
            f'      INDEX: "{index}"',
        ]
        if index:
            lines += ["    depends_on:", f"      svc{index - 1}: {{condition: service_started}}"]
    path = directory / "compose.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_rootfs(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    for name in ("etc", "tmp", "proc", "sys", "dev"):
        (path / name).mkdir()
    shutil.copy2("/bin/busybox", path / "bin/busybox")
    for applet in ("sh", "sleep", "true"):
        (path / "bin" / applet).symlink_to("busybox")
    (path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (path / "etc/group").write_text("root:x:0:\n")
    return path


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                            check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None or shutil.which("docker-compose") is None:
        return False
    result = subprocess.run([docker, "info"], capture_output=True, check=False)
    return result.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.updown")
    parser.add_argument("--services", type=int, action="append", default=None,
                        help="stack sizes (repeatable; default 10 and 20)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = args.services or [10, 20]
    if os.geteuid() != 0:
        print("bench.updown needs root (it runs containers)", file=sys.stderr)
        return 4
    base = Path(tempfile.mkdtemp(prefix="stackr-bench-updown-"))
    env = {**os.environ, "STACKR_ROOT": str(base / "root"), "STACKR_RUN": str(base / "run"),
           "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' Pythons cache bytecode
    stackr = [sys.executable, "-m", "stackr"]
    rows: list[str] = []
    try:
        subprocess.run([*stackr, "image", "import", str(make_rootfs(base / "rootfs")),
                        "busybox:latest"], env=env, check=True, capture_output=True)
        subprocess.run([*stackr, "info"], env=env, check=True, capture_output=True)  # engine
        for count in sizes:
            directory = base / f"stack{count}"
            directory.mkdir()
            write_chain(directory, count)
            cold, noop, down = [], [], []
            for _ in range(args.runs):
                cold.append(timed([*stackr, "up", "-d"], env, directory))
                noop.append(timed([*stackr, "up", "-d"], env, directory))
                down.append(timed([*stackr, "down", "-t", "2"], env, directory))
            for name, samples in (("cold up -d", cold), ("no-op up -d", noop),
                                  ("down", down)):
                rows.append(f"stackr {name:<12} {count:>3} services  p50 "
                            f"{statistics.median(samples):6.2f} s  min {min(samples):6.2f} s"
                            f"  (n={len(samples)})")
                print(rows[-1], flush=True)
        if docker_answers():
            rows.append("docker-compose: a daemon answers, but the side-by-side run is not "
                        "written yet")
        else:
            rows.append("docker-compose: not measured (no Docker daemon answers on this host)")
        print(rows[-1])
    finally:
        subprocess.run([*stackr, "engine", "stop"], env=env, capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "updown.txt").write_text("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
