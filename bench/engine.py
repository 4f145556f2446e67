"""Benchmark: the engine's API latency and the memory cost of running containers.

Run as root: ``PYTHONPATH=. python bench/engine.py [COUNT]`` (default 20). Uses a
temporary STACKR_ROOT/STACKR_RUN and a busybox root directory; starts a real engine
process, then prints:

* ``/_ping`` round trip (kept-alive connection, and a new connection each time);
* create+start of a container over the API, and the same through ``stackr.runtime``
  directly (the issue's target: the API within 2x of the runtime);
* RSS and PSS of every stackr process (engine + per-container shims) with COUNT
  running containers, divided by COUNT (the issue's target: 1.5 MiB per container;
  Docker about 19.5 MiB, Podman about 1.9 MiB), and the engine's own growth.

Removes everything it made and stops the engine (by pid).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _kib(pid: int, field: str, source: str) -> int:
    try:
        with open(f"/proc/{pid}/{source}") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _stackr_pids(exclude: int, base: Path) -> list[int]:
    """This benchmark's stackr processes: their command line (shims name their state
    dir) or environment (the engine) names its temporary dirs."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if b"stackr" in cmdline and (str(base).encode() in cmdline + environ):
            pids.append(int(entry))
    return pids


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    base = Path(tempfile.mkdtemp(prefix="stackr-bench-engine-"))
    os.environ["STACKR_ROOT"] = str(base / "root")
    os.environ["STACKR_RUN"] = str(base / "run")
    from stackr.client import EngineClient
    from stackr.client.autostart import ping_socket
    from tests.fixtures.busybox import make_busybox_rootfs

    rootfs = make_busybox_rootfs(base / "rootfs")
    (base / "run").mkdir(parents=True)
    engine = subprocess.Popen([sys.executable, "-m", "stackr", "engine"],
                              stderr=subprocess.DEVNULL)
    socket_path = str(base / "run" / "engine.sock")
    while not ping_socket(socket_path):
        time.sleep(0.01)
    client = EngineClient(f"unix://{socket_path}", autostart=False)
    ids: list[str] = []
    try:
        samples = []
        for _ in range(2000):
            started = time.perf_counter()
            client.ping()
            samples.append(time.perf_counter() - started)
        print(f"/_ping kept-alive: median {statistics.median(samples) * 1e6:.0f} us, "
              f"p99 {sorted(samples)[int(len(samples) * 0.99)] * 1e6:.0f} us")
        samples = []
        for _ in range(300):
            started = time.perf_counter()
            ping_socket(socket_path)
            samples.append(time.perf_counter() - started)
        print(f"/_ping new connection: median {statistics.median(samples) * 1e6:.0f} us")

        engine_idle = _kib(engine.pid, "VmRSS", "status")
        api, creates = [], []
        for _ in range(count):
            started = time.perf_counter()
            container_id = client.container_create({"Cmd": ["sleep", "1000"],
                                                    "RootfsDir": str(rootfs)})
            creates.append(time.perf_counter() - started)
            client.container_start(container_id)
            api.append(time.perf_counter() - started)
            ids.append(container_id)
        print(f"API create+start: median {statistics.median(api) * 1000:.0f} ms, "
              f"min {min(api) * 1000:.0f} ms (of which POST /containers/create: median "
              f"{statistics.median(creates) * 1000:.0f} ms)")
        time.sleep(1)
        pids = _stackr_pids(os.getpid(), base)
        rss = sum(_kib(pid, "VmRSS", "status") for pid in pids) / 1024
        pss = sum(_kib(pid, "Pss:", "smaps_rollup") for pid in pids) / 1024
        engine_now = _kib(engine.pid, "VmRSS", "status")
        roles = []
        for pid in sorted(pids):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            role = "engine" if pid == engine.pid else \
                "fork server" if b"forkserver" in cmdline else "other"
            roles.append(f"{role} {_kib(pid, 'VmRSS', 'status') / 1024:.1f} MiB")
        print(f"RSS per process: {', '.join(roles)}")
        print(f"stackr processes with {count} containers: {len(pids)}; RSS {rss:.1f} MiB "
              f"({rss / count:.2f} MiB per container), PSS {pss:.1f} MiB "
              f"({pss / count:.2f} MiB per container)")
        print(f"engine RSS: idle {engine_idle / 1024:.1f} MiB, with {count} containers "
              f"{engine_now / 1024:.1f} MiB (+{(engine_now - engine_idle) / count:.0f} KiB "
              "per container)")
        for container_id in ids:
            client.container_remove(container_id, force=True)
        ids.clear()

        from stackr.runtime import container
        from stackr.runtime.spec import ContainerSpec, RootfsSpec

        direct = []
        for index in range(min(count, 10)):
            spec = ContainerSpec(container_id=f"benchdirect{index}",
                                 rootfs=RootfsSpec(rootfs_dir=str(rootfs)),
                                 args=("sleep", "1000"))
            started = time.perf_counter()
            container.create(spec)
            container.start(spec.container_id)
            direct.append(time.perf_counter() - started)
            container.delete(spec.container_id, force=True)
        print(f"runtime create+start: median {statistics.median(direct) * 1000:.0f} ms, "
              f"min {min(direct) * 1000:.0f} ms")
    finally:
        for container_id in ids:
            client.container_remove(container_id, force=True)
        client.close()
        engine.send_signal(signal.SIGTERM)
        engine.wait(30)
        shutil.rmtree(base, ignore_errors=True)  # its records, logs and rootfs
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
