"""The engine's setting: a multi-threaded subreaper. Exit statuses arrive, no zombie stays."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

ENGINE_LIKE = textwrap.dedent(
    """
    import os, sys, threading
    from pathlib import Path
    from stackr import syscalls
    from stackr.runtime import container
    from stackr.runtime.forkserver import ForkServer
    from stackr.runtime.spec import ContainerSpec, RootfsSpec

    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    use_server = sys.argv[2] == "fork-server"
    server = ForkServer.start(os.environ["STACKR_RUN"]) if use_server else None
    container.use_fork_server(server)
    results = {}

    def one(index):
        spec = ContainerSpec(container_id=f"sr{index}", args=("sh", "-c", f"exit {index}"),
                             rootfs=RootfsSpec(layer_dirs=(sys.argv[1],)))
        container.create(spec)
        container.start(spec.container_id)
        results[index] = container.wait(spec.container_id, 30).exit_code
        container.delete(spec.container_id)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if server is not None:
        server.close()
    zombies = [line for line in os.popen("ps -o pid=,stat=,ppid= -e")
               if line.split()[1].startswith("Z") and line.split()[2] == str(os.getpid())]
    print(sorted(results.items()), "zombies:", len(zombies))
    """
)


@pytest.mark.parametrize("launcher", ["re-exec", "fork-server"])
def test_multi_threaded_subreaper_gets_every_exit_and_keeps_no_zombie(
    launcher: str, busybox_layer: Path, tmp_path: Path
) -> None:
    script = tmp_path / "engine_like.py"
    script.write_text(ENGINE_LIKE)
    result = subprocess.run(
        [sys.executable, str(script), str(busybox_layer), launcher],
        capture_output=True, text=True, timeout=80, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(0, 0), (1, 1), (2, 2), (3, 3)] zombies: 0"
