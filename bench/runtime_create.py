"""Benchmark: the cost of one container running ``true`` (issue 3's two figures).

Run as root: ``PYTHONPATH=. python bench/runtime_create.py [RUNS] [--instructions]``.
Uses a temporary STACKR_ROOT/STACKR_RUN and a busybox root made from the host's
/bin/busybox; prints:

* the marginal cost inside a running process (create + start + wait, cgroup and
  seccomp included, no interpreter start-up), with a fork server (the engine's way)
  and with one re-executed init helper per container; delete is timed apart;
* ``stackr runtime run`` as a whole process, interpreter start-up included, by the
  ``stackr`` console script (what pip writes: ``from stackr.cli import main``) and by
  ``python -m stackr.runtime.ocicli``; and ``runc run`` on the same bundle when runc
  is installed (Debian package ``runc``). The three are run in turn, round after
  round, so that a busy host slows all of them alike; the ratio to runc is printed.

``--instructions`` adds, per whole-process command, the instructions its own process
executes (valgrind's callgrind, when installed): a figure the host's load does not move.

stackr's bytecode is compiled first, as an installed package has it (pip compiles at
install; a checkout run with PYTHONDONTWRITEBYTECODE=1 would compile on every start).
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def summary(name: str, samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"{name:<52} p50 {statistics.median(ordered):7.1f} ms  p90 {p90:7.1f}  "
        f"min {ordered[0]:7.1f}  (n={len(ordered)})"
    )


def in_process(layer: Path, runs: int, label: str) -> tuple[list[float], list[float]]:
    from stackr.runtime import container
    from stackr.runtime.spec import ContainerSpec, RootfsSpec

    lifecycle_ms: list[float] = []
    delete_ms: list[float] = []
    for index in range(runs + 2):
        spec = ContainerSpec(
            container_id=f"bench-{label}-{index}",
            rootfs=RootfsSpec(layer_dirs=(str(layer),)),
            args=("true",),
        )
        started = time.perf_counter()
        container.create(spec)
        container.start(spec.container_id)
        state = container.wait(spec.container_id, 30)
        finished = time.perf_counter()
        container.delete(spec.container_id)
        deleted = time.perf_counter()
        if state.exit_code != 0:
            raise RuntimeError(f"{spec.container_id}: exit {state.exit_code}")
        if index >= 2:  # warm-up: page cache, first cgroup of the hierarchy
            lifecycle_ms.append((finished - started) * 1000)
            delete_ms.append((deleted - finished) * 1000)
    return lifecycle_ms, delete_ms


def whole_processes(
    commands: dict[str, Callable[[int], list[str]]], runs: int
) -> dict[str, list[float]]:
    """Each command once per round, in turn; the first two rounds warm up."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for index in range(runs + 2):
        for name, command in commands.items():
            started = time.perf_counter()
            result = subprocess.run(command(index), capture_output=True, check=False)
            elapsed = (time.perf_counter() - started) * 1000
            if result.returncode != 0:
                raise RuntimeError(result.stderr.decode(errors="replace"))
            if index >= 2:
                samples[name].append(elapsed)
    return samples


# What pip writes for the ``stackr = "stackr.cli:main"`` console script.
CONSOLE_SCRIPT = """import re
import sys
from stackr.cli import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""


def instructions(command: list[str], log_file: Path) -> int | None:
    """Instructions the command's own process executes (valgrind's callgrind), or None.

    Unlike wall-clock time this does not move with the load of a shared host, so two
    versions compare reliably; fixed hash seed, so that runs repeat exactly. The
    largest count is the caller's (its forked children count apart). valgrind 3.19
    has no pidfd_open, which ``wait`` and ``delete`` use: count ``create``.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    result = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
         f"--log-file={log_file}", *command],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        check=False, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    counts = [
        int(line.rsplit(":", 1)[1].replace(",", "").strip())
        for line in log_file.read_text().splitlines()
        if "Collected :" in line
    ]
    return max(counts) if result.returncode == 0 and counts else None


def main() -> int:
    """``runtime_create.py [RUNS] [--instructions]``."""
    count_instructions = "--instructions" in sys.argv
    positional = [argument for argument in sys.argv[1:] if not argument.startswith("--")]
    runs = int(positional[0]) if positional else 20
    base = Path(tempfile.mkdtemp(prefix="stackr-bench-rt-"))
    os.environ["STACKR_ROOT"] = str(base / "root")
    os.environ["STACKR_RUN"] = str(base / "run")
    from stackr.runtime import container, oci
    from stackr.runtime.forkserver import ForkServer
    from stackr.runtime.spec import ContainerSpec, RootfsSpec
    from tests.fixtures.busybox import make_busybox_rootfs

    layer = make_busybox_rootfs(base / "layer")
    lines = [f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"]
    try:
        server = ForkServer.start(str(base))
        container.use_fork_server(server)
        try:
            lifecycle, delete = in_process(layer, runs, "fs")
        finally:
            container.use_fork_server(None)
            server.close()
        fork_server_p50 = statistics.median(lifecycle)
        lines.append(summary("in process, fork server: create+start+wait", lifecycle))
        lines.append(summary("in process, fork server: delete", delete))
        lifecycle, delete = in_process(layer, runs, "exec")
        lines.append(summary("in process, re-exec'd init: create+start+wait", lifecycle))

        bundle = base / "bundle"
        shutil.copytree(layer, bundle / "rootfs", symlinks=True)
        spec = ContainerSpec(
            container_id="bundle", rootfs=RootfsSpec(rootfs_dir="rootfs"), args=("true",)
        )
        config = oci.config_from_spec(spec)
        config["linux"].pop("cgroupsPath")
        config["process"]["user"] = {"uid": 0, "gid": 0}
        config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}  # stackr: its default
        (bundle / "config.json").write_text(json.dumps(config))
        state_root = base / "oci"
        compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "stackr"), quiet=1)
        script = base / "stackr"
        script.write_text(CONSOLE_SCRIPT)
        environment_path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), environment_path])
        )
        commands: dict[str, Callable[[int], list[str]]] = {
            "stackr runtime run (console script)": lambda i: [
                sys.executable,
                str(script),
                "runtime",
                "--root",
                str(state_root),
                "run",
                "--bundle",
                str(bundle),
                f"cs-{i}",
            ],
            "python -m stackr.runtime.ocicli run": lambda i: [
                sys.executable,
                "-m",
                "stackr.runtime.ocicli",
                "--root",
                str(state_root),
                "run",
                "--bundle",
                str(bundle),
                f"oci-{i}",
            ],
        }
        runc = shutil.which("runc")
        if runc:
            commands["runc run (same bundle)"] = lambda i: [
                runc,
                "--root",
                str(base / "runc"),
                "run",
                "--bundle",
                str(bundle),
                f"runc-{i}",
            ]
        samples = whole_processes(commands, runs)
        lines.extend(summary(f"whole process: {name}", values) for name, values in samples.items())
        if runc:
            runc_p50 = statistics.median(samples["runc run (same bundle)"])
            for name in list(commands)[:2]:
                ratio = statistics.median(samples[name]) / runc_p50
                lines.append(f"  p50 ratio to runc: {name:<40} {ratio:5.2f}x (target 2.5x)")
            ratio = fork_server_p50 / runc_p50
            lines.append(
                f"  p50 ratio to runc: {'in process, fork server: create+start+wait':<40} "
                f"{ratio:5.2f}x (target 1x)"
            )
        else:
            lines.append("runc run: not measured (runc is not installed)")
        if count_instructions:
            labels = ("stackr runtime create (console script)", "python -m ...ocicli create")
            for label, command in zip(labels, list(commands.values())[:2], strict=True):
                create = [
                    "create" if argument == "run" else argument for argument in command(runs + 2)
                ]
                count = instructions(create, base / "callgrind.log")
                subprocess.run(  # the created container goes, whatever happened
                    [sys.executable, "-m", "stackr.runtime.ocicli", "--root", str(state_root),
                     "delete", "--force", create[-1]],
                    capture_output=True, check=False,
                )  # fmt: skip
                shown = f"{count / 1e6:8.1f} M" if count is not None else "not measured"
                lines.append(f"instructions of the caller's process: {label:<37} {shown}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
