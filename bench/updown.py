"""``python -m bench.updown``: stackr beside docker-compose + Docker, in one run.

Whole-process wall-clock times of a cold ``up -d`` (right after an edit of the stack
file), a no-op ``up -d``, ``down -t 2``, and again a cold ``up -d`` (of the unchanged
file) and ``down`` of a stack of N services, each depending on the one before (``condition:
service_started``), all ``busybox:latest`` running ``sleep 3600`` under ``init: true``.
Default N is 20 (issue #7's figure); ``--growth`` measures 5, 20 and 80.

Both sides get the same image: a busybox root filesystem made offline from the host's
static busybox, imported into stackr (``stackr image import``) and into Docker (``docker
import`` of a tar of the same directory). Nothing is pulled.

stackr runs from this checkout (``python -m stackr`` with this interpreter) against a
private engine: its own STACKR_ROOT under a temporary directory and STACKR_RUN on a
tmpfs (``volatile_directory``), started by ``stackr info`` before the first measurement
and stopped at the end. Each side keeps its run-time state where a standard host has
it, on the tmpfs ``/run``: stackr's STACKR_RUN, dockerd's exec root and containerd's
state (when ``/run`` is on disk, as on this project's machines, ``/dev/shm``); images,
records, logs and writable layers on disk. docker-compose runs
against a private dockerd and containerd (``bench.private_docker``: state under the same
temporary directory, no iptables rules, no default bridge), also started before and
stopped at the end. The two sides alternate, never run at the same time: for each round,
stackr's cold up, no-op up and down, then docker-compose's.

docker-compose 1.29 does not know the top-level ``name:`` key; its copy of the file
leaves it out and the project name is given with ``-p``. The services are identical.

The host's iptables, nftables tables, links, bridge netfilter, forwarding sysctls,
top-level cgroups and Docker's default state paths are recorded before and after and
compared (other helpers' stackr objects, which come and go meanwhile, are left out).

Results go to bench/results/updown.txt (``--output`` to change).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import host_snapshot
from bench.private_docker import DockerTools, DockerUnavailable, PrivateDocker, find_tools

REPO = Path(__file__).resolve().parents[1]
PROJECT = "benchupdown"
DEFAULT_SIZES = (20,)
GROWTH_SIZES = (5, 20, 80)
# "cold up -d" follows an edit of the stack file (stackr loads it: no settled record
# applies); "up -d again" is the cold up of the same, unchanged file after a down (stackr
# plans from its settled record).
OPERATIONS = ("cold up -d", "no-op up -d", "down", "up -d again", "down again")
# Issue #7: stackr's time at most this fraction of docker-compose's.
TARGET_FRACTIONS = {"cold up -d": 8, "no-op up -d": 5, "down": 10, "up -d again": 8,
                    "down again": 10}
STOP_TIMEOUT = "2"


def write_chain(directory: Path, count: int, *, with_name: bool = True) -> Path:
    """``count`` services; each depends on the one before (started), one network."""
    lines = [f"name: {PROJECT}"] if with_name else []
    lines.append("services:")
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
    directory.mkdir(parents=True, exist_ok=True)
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


def volatile_directory() -> Path | None:
    """A new directory on a tmpfs, for each side's run-time state (stackr's STACKR_RUN,
    dockerd's exec root, containerd's state): ``/run`` on a standard host, where both
    keep it by default. Some hosts (this project's test machines) have ``/run`` on disk:
    then ``/dev/shm``; None without a tmpfs."""
    mounts = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        mounts[fields[1]] = fields[2]
    for candidate in ("/run", "/dev/shm"):
        if mounts.get(candidate) == "tmpfs":
            return Path(tempfile.mkdtemp(prefix="stackr-bench-run-", dir=candidate))
    return None


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                            check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return elapsed


@dataclass(frozen=True)
class Side:
    """One tool under test: how to call it, with what environment, on which files."""

    label: str
    command: tuple[str, ...]
    env: dict[str, str]
    directory: Path
    names_project_in_file: bool

    def stack_directory(self, count: int) -> Path:
        return self.directory / f"stack{count}"

    def cycle(self, count: int) -> dict[str, float]:
        """Cold up (of an edited file), no-op up, down, cold up of the unchanged file,
        down, of the ``count`` stack; seconds per operation."""
        cwd = self.stack_directory(count)
        with (cwd / "compose.yaml").open("a") as stack_file:  # an edit: a comment
            stack_file.write(f"# edited {time.time()}\n")
        up = [*self.command, "up", "-d"]
        down = [*self.command, "down", "-t", STOP_TIMEOUT]
        return {
            "cold up -d": timed(up, self.env, cwd),
            "no-op up -d": timed(up, self.env, cwd),
            "down": timed(down, self.env, cwd),
            "up -d again": timed(up, self.env, cwd),
            "down again": timed(down, self.env, cwd),
        }


@dataclass
class Samples:
    by_key: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)
    # The 1-minute load average after each cycle: how quiet the host was meanwhile.
    loads: list[float] = field(default_factory=list)

    def add(self, label: str, count: int, timings: dict[str, float]) -> None:
        for operation, seconds in timings.items():
            self.by_key.setdefault((label, operation, count), []).append(seconds)

    def get(self, label: str, operation: str, count: int) -> list[float]:
        return self.by_key.get((label, operation, count), [])


def measure(sides: list[Side], sizes: list[int], runs: int, samples: Samples) -> None:
    for count in sizes:
        for side in sides:
            write_chain(side.stack_directory(count), count,
                        with_name=side.names_project_in_file)
        for round_number in range(1, runs + 1):
            for side in sides:  # alternately, never at the same time
                timings = side.cycle(count)
                samples.add(side.label, count, timings)
                samples.loads.append(float(_load().split()[0]))
                print(f"{side.label:<15} {count:>3} services  round {round_number}: "
                      + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in
                                  timings.items()), flush=True)


def _figure(values: list[float]) -> str:
    if not values:
        return f"{'-':>16}"
    return f"{statistics.median(values):6.2f} ({min(values):5.2f}) s"


def table(samples: Samples, sizes: list[int], compared: bool) -> list[str]:
    header = f"{'operation':<12} {'services':>8}   {'stackr p50 (min)':>16}"
    if compared:
        header += f"   {'compose p50 (min)':>17}   {'speed-up p50':>12}  {'target':>6}  met"
    rows = [header]
    for count in sizes:
        for operation in OPERATIONS:
            ours = samples.get("stackr", operation, count)
            row = f"{operation:<12} {count:>8}   {_figure(ours)}"
            theirs = samples.get("docker-compose", operation, count)
            if compared and ours and theirs:
                speedup = statistics.median(theirs) / statistics.median(ours)
                target = TARGET_FRACTIONS[operation]
                row += (f"   {_figure(theirs):>17}   {speedup:11.1f}x  {target:>5}x  "
                        f"{'yes' if speedup >= target else 'no'}")
            rows.append(row)
    return rows


def growth(samples: Samples, sizes: list[int], labels: list[str]) -> list[str]:
    rows = ["growth of cold up -d (p50; per service in brackets):"]
    for count in sizes:
        parts = []
        for label in labels:
            values = samples.get(label, "cold up -d", count)
            if values:
                p50 = statistics.median(values)
                parts.append(f"{label} {p50:6.2f} s ({p50 / count * 1000:4.0f} ms)")
        rows.append(f"  {count:>3} services: " + "   ".join(parts))
    return rows


def _filesystem(path: Path) -> str:
    """The type of the filesystem ``path`` is on (the longest mount point above it)."""
    found, best = "?", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point, kind = line.split()[1:3]
        if (str(path) + "/").startswith(point.rstrip("/") + "/") and len(point) >= len(best):
            found, best = kind, point
    return found


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _stackr_revision() -> str:
    result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown revision"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del frame
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.updown")
    parser.add_argument("--services", type=int, action="append", default=None,
                        help="stack sizes (repeatable; default 20)")
    parser.add_argument("--growth", action="store_true",
                        help=f"stack sizes {', '.join(map(str, GROWTH_SIZES))}")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-docker", action="store_true",
                        help="measure stackr only")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "updown.txt")
    args = parser.parse_args()
    sizes = sorted(set(args.services or []) | set(GROWTH_SIZES if args.growth else ())
                   or set(DEFAULT_SIZES))
    if os.geteuid() != 0:
        print("bench.updown needs root (it runs containers)", file=sys.stderr)
        return 4
    # A SIGTERM or SIGHUP unwinds like Ctrl-C, so the daemons are stopped and cleaned.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)

    tools: DockerTools | None = None
    docker_note = "docker-compose: not measured (--no-docker)"
    if not args.no_docker:
        try:
            tools = find_tools()
        except DockerUnavailable as reason:
            docker_note = f"docker-compose: not measured ({reason})"

    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = _load()
    host_before = host_snapshot.take()
    base = Path(tempfile.mkdtemp(prefix="stackr-bench-updown-"))
    run_base = volatile_directory() or base / "volatile"
    run_base.mkdir(exist_ok=True)
    stackr_env = {**os.environ, "STACKR_ROOT": str(base / "root"),
                  "STACKR_RUN": str(run_base / "stackr"), "PYTHONPATH": str(REPO)}
    stackr_env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' Pythons cache bytecode
    stackr = Side("stackr", (sys.executable, "-m", "stackr"), stackr_env, base / "stackr",
                  names_project_in_file=True)
    docker: PrivateDocker | None = None
    sides = [stackr]
    samples = Samples()
    versions = f"stackr {_stackr_revision()}"
    cleanup_notes: list[str] = []
    interrupted = False
    try:
        rootfs = make_rootfs(base / "rootfs")
        subprocess.run([*stackr.command, "image", "import", str(rootfs), "busybox:latest"],
                       env=stackr_env, check=True, capture_output=True)
        subprocess.run([*stackr.command, "info"], env=stackr_env, check=True,
                       capture_output=True)  # starts the engine
        if tools is not None:
            docker = PrivateDocker(base / "docker", tools, run_base / "docker")
            try:
                docker.start()
                docker.import_rootfs(rootfs, "busybox:latest")
                versions += f"; {docker.versions()}"
                sides.append(Side("docker-compose", (str(tools.compose), "-p", PROJECT),
                                  docker.env, base / "compose", names_project_in_file=False))
                docker_note = ""
            except (DockerUnavailable, RuntimeError) as reason:
                docker_note = f"docker-compose: not measured ({reason})"
                print(docker_note, file=sys.stderr)
        measure(sides, sizes, args.runs, samples)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # Whatever an interrupted round left up (down works from the project's records).
        last = stackr.stack_directory(sizes[-1])
        if last.is_dir():
            subprocess.run([*stackr.command, "down", "-t", "1"], env=stackr_env,
                           cwd=last, capture_output=True, check=False)
        subprocess.run([*stackr.command, "engine", "stop"], env=stackr_env,
                       capture_output=True, check=False)
        if docker is not None:
            cleanup_notes = docker.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(run_base, ignore_errors=True)
    host_changes = host_snapshot.differences(host_before, host_snapshot.take())
    if interrupted:
        print("interrupted: stacks taken down, engines stopped, temporary files removed; "
              "no results written", file=sys.stderr)
        for note in cleanup_notes:
            print(f"private Docker cleanup: {note}", file=sys.stderr)
        print("host after vs before: " + ("unchanged" if not host_changes
                                          else "; ".join(host_changes)), file=sys.stderr)
        return 130

    compared = len(sides) == 2
    lines = [
        f"python -m bench.updown  {started_at}  ({os.cpu_count()} cores; load average "
        f"{load_before} before, {_load()} after)",
        f"{versions}",
        f"stack: N services, each depends_on the one before (service_started), busybox "
        f"sleep 3600, init: true; down -t {STOP_TIMEOUT}",
        f"run-time state (STACKR_RUN; dockerd's exec root, containerd's state) on "
        f"{_filesystem(run_base)}, the rest on {_filesystem(base)}",
        f"whole-process wall-clock seconds, n={args.runs} per figure"
        + (", stackr and docker-compose alternating" if compared else ""),
        "1-minute load average after each cycle: "
        + (f"min {min(samples.loads):.2f}, p50 {statistics.median(samples.loads):.2f}, "
           f"max {max(samples.loads):.2f}" if samples.loads else "-"),
        "",
        *table(samples, sizes, compared),
    ]
    if len(sizes) > 1:
        lines += ["", *growth(samples, sizes, [side.label for side in sides])]
    if docker_note:
        lines += ["", docker_note]
    if compared:
        lines += ["", "speed-up = docker-compose p50 / stackr p50; issue #7's targets: cold up "
                  ">= 8x, no-op up >= 5x, down >= 10x"]
    lines += ["", f"host before: {host_before.summary()}",
              "host after vs before: " + ("unchanged" if not host_changes
                                          else "; ".join(host_changes))]
    if cleanup_notes:
        lines.append("private Docker cleanup had to: " + "; ".join(cleanup_notes))
    report = "\n".join(lines) + "\n"
    print()
    print(report, end="")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    return 1 if host_changes or cleanup_notes else 0


if __name__ == "__main__":
    raise SystemExit(main())
