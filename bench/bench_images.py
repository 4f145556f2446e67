"""Benchmark: ``stackr load`` and ``stackr pull`` of a ~100 MB image against ``tar -x``.

Run as root from the repository root::

    python bench/bench_images.py [--size-mb 100] [--workdir /tmp/stackr-bench]

The table is also written to bench/results/images.txt.

The image has two layers of files (half random, half text, 16 kB to 1 MB). ``load`` reads
a ``docker save`` archive with uncompressed layers (as Docker 25 writes); ``pull`` fetches
gzip layers from a local docker-registry. The baselines are ``tar -x`` (and ``tar -xz``)
of the same layer tars into empty directories: the limit an unpacker can reach. Each run
is a fresh CLI process talking to an engine started for that run (as the embedded
engine stays running after the first call; its start, and its first image request,
which imports the store, are not timed; one more row times a load that is an engine's
first image request); wall time and peak
RSS of the CLI, and the engine's peak RSS (VmHWM) after the run, are reported. The CLI
hands a local engine the archive's open file (SCM_RIGHTS) and the engine reads it itself:
no byte of the archive goes through the socket. Two more
rows time the store alone, in one process (its own clock, without interpreter start,
CLI or socket): loading the archive file, and reading it as a stream as the engine gets
a request body. Docker's own ``docker load``/``docker pull`` are timed too when a docker
CLI is present.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures import images as fx
from tests.fixtures.registry import RegistryServer, push_image, running_registry


def _files(total: int, seed: int) -> list[fx.TarEntry]:
    rng = random.Random(seed)
    entries: list[fx.TarEntry] = []
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(8)) for _ in range(500)]
    written = 0
    index = 0
    while written < total:
        size = rng.choice((16 << 10, 64 << 10, 256 << 10, 1 << 20))
        if index % 2:
            data = rng.randbytes(size)
        else:
            data = b" ".join(rng.choice(words) for _ in range(size // 9 + 1))[:size]
        directory = f"d{index % 20:02d}"
        if index < 20:
            entries.append(fx.TarEntry(f"{directory}/", "dir", mode=0o755))
        entries.append(fx.TarEntry(f"{directory}/f{index:05d}", data=data))
        written += size
        index += 1
    return entries


def _run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (kB) of one command, measured by GNU time around it
    (a child forked from this big process would report this process's RSS)."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-o", report.name, "-f", "%M", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        elapsed = time.perf_counter() - start
        return elapsed, int(report.read().split()[-1])


def _tar_x(blobs: list[Path], workdir: Path, name: str, gzip: bool) -> tuple[float, int]:
    total, peak = 0.0, 0
    for index, blob in enumerate(blobs):
        target = workdir / f"{name}-{index}"
        target.mkdir()
        elapsed, rss = _run(["tar", "-xzf" if gzip else "-xf", str(blob), "-C", str(target)])
        total += elapsed
        peak = max(peak, rss)
    return total, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stackr-bench.", dir=options.workdir))
    # Nothing is deleted until the end, and what each step unpacks goes to its own spot of
    # the disk (Orlov's spread of a "top" directory's children): on an ext4 without a
    # journal, creating files right after many were deleted nearby costs up to 2 ms per
    # file (recently deleted inodes are skipped, one by one), whichever step follows.
    subprocess.run(["chattr", "+T", str(workdir)], capture_output=True, check=False)
    try:
        with running_registry(workdir / "registry") as registry:
            reference = f"{registry.host}/bench/image:1"
            summary, layer_files, gz_files, archive = _prepare(
                workdir, options.size_mb << 20, registry
            )
            rows = _measure(workdir, reference, layer_files, gz_files, archive, options.runs)
        lines = [summary, f"{'what':34} {'seconds':>8} {'peak RSS MB':>12} {'engine MB':>10}"]
        lines += [
            f"{what:34} {seconds:8.2f} {rss / 1024:12.1f} "
            + (f"{engine_rss / 1024:10.1f}" if engine_rss else f"{'':10}")
            for what, seconds, rss, engine_rss in rows
        ]
        print("\n".join(lines))
        results = Path(__file__).resolve().parent / "results"
        results.mkdir(exist_ok=True)
        (results / "images.txt").write_text("\n".join(lines) + "\n")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _prepare(
    workdir: Path, size: int, registry: RegistryServer
) -> tuple[str, list[Path], list[Path], Path]:
    """Write the archive and layer files and push the image; nothing big stays in memory
    afterwards (a child forked from a big parent would report the parent's RSS)."""
    layers = [fx.layer_tar(_files(size * 6 // 10, 1)), fx.layer_tar(_files(size * 4 // 10, 2))]
    plain = fx.build_image(layers, compression="none")
    gz = fx.build_image(layers, compression="gzip")
    archive = fx.write_docker_save_oci(workdir / "image.tar", [(plain, ["bench:1"])])
    push_image(registry, "bench/image", "1", gz)
    layer_files, gz_files = [], []
    for index, (layer, blob) in enumerate(zip(layers, gz.blobs, strict=True)):
        (workdir / f"layer{index}.tar").write_bytes(layer)
        (workdir / f"layer{index}.tar.gz").write_bytes(blob)
        layer_files.append(workdir / f"layer{index}.tar")
        gz_files.append(workdir / f"layer{index}.tar.gz")
    summary = (
        f"image: {len(layers)} layers, {sum(map(len, layers)) / 1e6:.1f} MB uncompressed, "
        f"{sum(map(len, gz.blobs)) / 1e6:.1f} MB gzip"
    )
    return summary, layer_files, gz_files, archive


@contextmanager
def _engine(env: dict[str, str]) -> Iterator[int]:
    """A stackr engine on ``env``'s STACKR_ROOT/STACKR_RUN (its pid), stopped afterwards."""
    from stackr.client.autostart import ping_socket

    run = Path(env["STACKR_RUN"])
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "engine.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stackr", "engine"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 30
        while not ping_socket(str(run / "engine.sock")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the engine did not start; see {run / 'engine.log'}")
            time.sleep(0.01)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


IN_PROCESS = """
import sys, time
from pathlib import Path
from stackr.images.store import ImageStore
store = ImageStore()
start = time.perf_counter()
if sys.argv[2] == "stream":
    with open(sys.argv[1], "rb") as stream:
        store.load_archive(stream)
else:
    store.load_archive(Path(sys.argv[1]))
print(time.perf_counter() - start)
"""


def _in_process(archive: Path, how: str, env: dict[str, str]) -> tuple[float, int]:
    """The store's own time to load ``archive`` (a file, or read as a stream)."""
    with tempfile.NamedTemporaryFile("r") as report:
        output = subprocess.run(
            ["/usr/bin/time", "-o", report.name, "-f", "%M",
             sys.executable, "-c", IN_PROCESS, str(archive), how],
            env=env, capture_output=True, text=True, check=True,
        )
        return float(output.stdout.strip()), int(report.read().split()[-1])


def _peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _measure(
    workdir: Path,
    reference: str,
    layer_files: list[Path],
    gz_files: list[Path],
    archive: Path,
    runs: int,
) -> list[tuple[str, float, int, int]]:
    """Each figure is the fastest of ``runs`` (the machine is shared), each run on an
    empty store; the peak RSS is the largest seen."""
    gc.collect()
    repo = Path(__file__).resolve().parent.parent
    # an installed stackr has its bytecode compiled: do not time compiling it on each call
    compileall.compile_dir(repo / "stackr", quiet=1)
    stackr = [sys.executable, "-m", "stackr"]
    base_env = {**os.environ, "PYTHONPATH": str(repo)}
    results: dict[str, list[tuple[float, int, int]]] = {}

    def record(what: str, figure: tuple[float, int], engine_pid: int = 0) -> None:
        engine_rss = _peak_rss_kb(engine_pid) if engine_pid else 0
        results.setdefault(what, []).append((*figure, engine_rss))

    for run in range(runs):
        env = {
            **base_env,
            "STACKR_ROOT": str(workdir / f"root-load-{run}"),
            "STACKR_RUN": str(workdir / f"run-load-{run}"),
        }
        record("tar -x (uncompressed layers)",
               _tar_x(layer_files, workdir, f"tar-{run}", gzip=False))
        with _engine(env) as pid:
            _run([*stackr, "images", "-q"], env)  # warm: the engine imports its store lazily
            load = _run([*stackr, "load", "-q", "-i", str(archive)], env)
            record("stackr load -i (docker save)", load, pid)
        env["STACKR_ROOT"] = str(workdir / f"root-load-{run}-cold")
        env["STACKR_RUN"] = str(workdir / f"run-load-{run}-cold")
        with _engine(env) as pid:
            load = _run([*stackr, "load", "-q", "-i", str(archive)], env)
            record("  same, engine's 1st image request", load, pid)
        for how in ("file", "stream"):
            env["STACKR_ROOT"] = str(workdir / f"root-load-{run}-{how}")
            record(f"  store alone, archive as a {how}", _in_process(archive, how, env))
        record("tar -xz (gzip layers)", _tar_x(gz_files, workdir, f"tar-gz-{run}", gzip=True))
        env["STACKR_ROOT"] = str(workdir / f"root-pull-{run}")
        env["STACKR_RUN"] = str(workdir / f"run-pull-{run}")
        with _engine(env) as pid:
            _run([*stackr, "images", "-q"], env)
            record("stackr pull (local registry)", _run([*stackr, "pull", "-q", reference], env),
                   pid)
            record("stackr pull again (no-op)", _run([*stackr, "pull", "-q", reference], env),
                   pid)
    docker_up = (
        shutil.which("docker")
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )
    if docker_up:
        record("docker load", _run(["docker", "load", "-q", "-i", str(archive)]))
        record("docker pull (local registry)", _run(["docker", "pull", "-q", reference]))
    return [
        (what, min(t for t, _, _ in figures), max(r for _, r, _ in figures),
         max(e for _, _, e in figures))
        for what, figures in results.items()
    ]


if __name__ == "__main__":
    main()
