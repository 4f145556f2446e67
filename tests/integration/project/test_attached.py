"""Attached ``up`` (logs, exits, Ctrl-C), ``--wait``, the lock between two commands, and
convergence after ``up`` is killed at a random moment."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from tests.integration.project.conftest import REPO, Project
from tests.integration.project.test_up_down import assert_nothing_left

JOBS = """
services:
  hello:
    image: busybox:latest
    command: sh -c 'echo hello from the job; sleep 0.3; exit {code}'
  server:
    image: busybox:latest
    init: true
    command: sh -c 'echo serving; exec sleep 3600'
"""


def test_attached_up_streams_logs_and_returns_the_exit_code(project: Project) -> None:
    project.write(JOBS.format(code=5))
    result = project.stackr("up", "--exit-code-from", "hello", "-t", "1", check=False)
    assert result.returncode == 5, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert f"{project.name}-hello-1 | hello from the job" in lines
    assert f"{project.name}-server-1 | serving" in lines
    assert f"{project.name}-hello-1 exited with code 5" in result.stdout
    # --abort-on-container-exit stopped the server too.
    assert project.ps()[f"{project.name}-server-1"]["State"] == "exited"
    project.stackr("down")
    assert_nothing_left(project)


def test_a_service_with_attach_false_is_not_streamed(project: Project) -> None:
    project.write(JOBS.format(code=0) + """
  quiet:
    image: busybox:latest
    attach: false
    init: true
    command: sh -c 'echo noisy; exec sleep 3600'
""")
    result = project.stackr("up", "--abort-on-container-exit", "-t", "1", check=False)
    assert result.returncode == 0, result.stderr
    assert "hello from the job" in result.stdout and "noisy" not in result.stdout
    states = {name: row["State"] for name, row in project.ps().items()}
    assert states[f"{project.name}-quiet-1"] == "exited"  # stopped with the rest
    project.stackr("down")


def test_ctrl_c_stops_the_attached_stack(project: Project) -> None:
    project.write(JOBS.format(code=0))
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "stackr", "up", "-t", "2"], cwd=project.directory,
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "serving" in line:
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Gracefully stopping" in err
    rows = project.ps()
    assert all(row["State"] != "running" for row in rows.values())
    project.stackr("down")
    assert_nothing_left(project)


def test_up_wait_returns_when_healthy_and_fails_when_not(project: Project) -> None:
    project.write("""
services:
  ok:
    image: busybox:latest
    init: true
    command: sleep 3600
    healthcheck: {test: [CMD, "true"], interval: 1s}
""")
    project.stackr("up", "-d", "--wait")
    assert project.ps()[f"{project.name}-ok-1"]["Health"] == "healthy"
    project.write("""
services:
  ok:
    image: busybox:latest
    init: true
    command: sleep 3600
    healthcheck: {test: [CMD, "false"], interval: 1s, retries: 1}
""")
    failed = project.stackr("up", "-d", "--wait", "--wait-timeout", "20", check=False)
    assert failed.returncode == 1
    assert "is unhealthy" in failed.stderr
    project.stackr("down")
    assert_nothing_left(project)


def test_a_second_up_waits_for_the_lock_then_fails(project: Project) -> None:
    project.write(JOBS.format(code=0))
    from stackr.project.lock import project_lock

    with project_lock(project.name):
        started = time.monotonic()
        result = project.stackr("up", "-d", check=False, timeout=60)
        waited = time.monotonic() - started
    assert result.returncode == 4, result.stderr
    assert "waiting for another stackr command" in result.stderr
    assert "is locked by another stackr command" in result.stderr
    assert waited >= 5
    assert project.ps() == {}


def test_up_killed_at_random_moments_converges(project: Project) -> None:
    project.write("""
services:
  a: {image: busybox:latest, init: true, command: sleep 3600}
  b: {image: busybox:latest, init: true, command: sleep 3600, depends_on: [a]}
  c: {image: busybox:latest, init: true, command: sleep 3600, depends_on: [b]}
networks:
  extra: {}
""")
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(7)
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-m", "stackr", "up", "-d"], cwd=project.directory,
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 2.0))
        process.kill()
        process.wait(10)
        if rng.random() < 0.5:
            project.stackr("down", "-t", "1")
    project.stackr("up", "-d")
    rows = project.ps()
    assert sorted(rows) == [f"{project.name}-{s}-1" for s in "abc"]
    assert all(row["State"] == "running" for row in rows.values())
    assert "nothing to do" in project.stackr("up", "-d").stderr
    project.stackr("down", "-t", "1")
    assert_nothing_left(project)


def test_engine_killed_under_a_running_stack(project: Project) -> None:
    """SIGKILL the engine: the containers live on, a new engine re-adopts them, ``up``
    finds nothing to do and ``down`` still removes everything."""
    from tests.integration.engine.conftest import spawn_engine

    project.write("""
services:
  a: {image: busybox:latest, init: true, command: sleep 3600}
  b: {image: busybox:latest, init: true, command: sleep 3600, depends_on: [a]}
""")
    project.stackr("up", "-d")
    pids = project.pids()
    project.engine.kill()
    project.engine = spawn_engine(project.engine.socket_path.parent)
    assert "nothing to do" in project.stackr("up", "-d").stderr
    assert project.pids() == pids
    project.stackr("down", "-t", "1")
    assert_nothing_left(project)
