"""``python -m bench.watch_latency``: how long ``stackr watch`` takes to act on a save.

* reapply: from the write of compose.yaml (a service's new ``command``) to the
  recreated container running with that command, as the engine reports it;
* sync: from the write of a file under a ``develop.watch`` sync path to the file, with
  its new content, being visible inside the running container (read through
  ``/proc/<pid>/root``, i.e. what the container's processes see).

Both over N edits (default 20): p50 and p95. A private engine (own STACKR_ROOT and
STACKR_RUN), a busybox image made offline from the host's static busybox, and
``stackr watch`` run as a user runs it (a subprocess).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STACK = """name: benchwatch
services:
  web:
    image: busybox:latest
    init: true
    command: ["sleep", "{seconds}"]
  app:
    image: busybox:latest
    init: true
    command: ["sleep", "3600"]
    develop:
      watch:
        - {{path: ./src, target: /app, action: sync}}
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               every: float = 0.001) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(every)


class Log:
    """``stackr watch``'s output, read from its file as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def wait_for(self, text: str, timeout: float = 60) -> None:
        def seen() -> bool:
            content = self.path.read_text()
            index = content.find(text, self.offset)
            if index < 0:
                return False
            self.offset = index + len(text)
            return True

        wait_until(seen, timeout, f"watch to print {text!r}", every=0.005)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.watch_latency")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--debounce", type=int, default=None, metavar="MS",
                        help="passed to stackr watch (default: its own default)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench.watch_latency needs root (it runs containers)", file=sys.stderr)
        return 4
    from bench.updown import make_rootfs

    base = Path(tempfile.mkdtemp(prefix="stackr-bench-watch-"))
    os.environ.update({"STACKR_ROOT": str(base / "root"), "STACKR_RUN": str(base / "run")})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    stackr = [sys.executable, "-m", "stackr"]
    project = base / "project"
    (project / "src").mkdir(parents=True)
    (project / "compose.yaml").write_text(STACK.format(seconds=1000))
    rows: list[str] = []
    watch: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([*stackr, "image", "import", str(make_rootfs(base / "rootfs")),
                        "busybox:latest"], env=env, check=True, capture_output=True)
        subprocess.run([*stackr, "info"], env=env, check=True, capture_output=True)
        log_path = base / "watch.log"
        debounce = [] if args.debounce is None else ["--debounce", str(args.debounce)]
        with open(log_path, "wb") as log_file:
            watch = subprocess.Popen([*stackr, "watch", "--quiet", *debounce], cwd=project,
                                     env=env, stdout=log_file, stderr=subprocess.STDOUT)
        log = Log(log_path)
        log.wait_for("watching", timeout=120)

        from stackr.client import EngineClient
        from stackr.naming import LABEL_PROJECT

        client = EngineClient()

        def running_command(service: str) -> tuple[str, int] | None:
            for summary in client.containers(filters={"label": [
                    f"{LABEL_PROJECT}=benchwatch"]}):
                if f"-{service}-" in summary["Names"][0] and summary["State"] == "running":
                    pid = client.container_inspect(summary["Id"])["State"]["Pid"]
                    return str(summary["Command"]), int(pid)
            return None

        app = running_command("app")
        assert app is not None
        app_root = Path(f"/proc/{app[1]}/root/app")

        sync_ms: list[float] = []
        for index in range(args.edits):
            token = f"edit {index} {time.time_ns()}\n"
            target = app_root / f"file{index % 5}.txt"
            started = time.perf_counter()
            (project / "src" / target.name).write_text(token)

            def landed(target: Path = target, token: str = token) -> bool:
                try:
                    return target.read_text() == token
                except OSError:
                    return False

            wait_until(landed, 10, f"sync of {target.name}")
            sync_ms.append((time.perf_counter() - started) * 1000)
            log.wait_for("app: sync:")

        reapply_ms: list[float] = []
        for index in range(args.edits):
            seconds = 2000 + index
            started = time.perf_counter()
            (project / "compose.yaml").write_text(STACK.format(seconds=seconds))

            def recreated(seconds: int = seconds) -> bool:
                found = running_command("web")
                return found is not None and found[0].endswith(f"sleep {seconds}")

            # every 10 ms: a tighter poll of the engine slows the very start it measures
            wait_until(recreated, 30, f"web running sleep {seconds}", every=0.01)
            reapply_ms.append((time.perf_counter() - started) * 1000)
            log.wait_for("compose.yaml changed: applied")
        client.close()
        if os.environ.get("BENCH_KEEP_LOG"):  # watch's own per-step timings
            shutil.copy(log_path, REPO / "bench" / "results" / "watch-last.log")
        from stackr.commands.watch import DEFAULT_DEBOUNCE_MS

        default = (f"default {DEFAULT_DEBOUNCE_MS} ms" if args.debounce is None
                   else f"{args.debounce} ms")
        for name, samples, target_ms in (("sync (write → visible in container)", sync_ms, 150),
                                         ("reapply (write → new command running)",
                                          reapply_ms, 500)):
            p95 = percentile(samples, 0.95)
            rows.append(f"watch {name:<40} p50 {percentile(samples, 0.5):7.1f} ms  "
                        f"p95 {p95:7.1f} ms  max {max(samples):7.1f} ms  target p95 ≤ "
                        f"{target_ms} ms {'met' if p95 <= target_ms else 'MISSED'}  "
                        f"(n={len(samples)}, debounce {default})")
            print(rows[-1], flush=True)
    finally:
        if watch is not None and watch.poll() is None:
            watch.send_signal(signal.SIGINT)
            try:
                watch.wait(30)
            except subprocess.TimeoutExpired:
                watch.kill()
        subprocess.run([*stackr, "down", "-t", "1"], cwd=project, env=env,
                       capture_output=True, check=False)
        subprocess.run([*stackr, "engine", "stop"], env=env, capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "watch.txt").write_text("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
