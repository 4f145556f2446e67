"""What the project verbs load before their first request, and the types that made it light.

``down``, ``ps``, ``logs`` and a settled ``up`` read the project from its settled record
and plan from the engine's records: none of them may load ``dataclasses`` (with
inspect, ast, dis, tokenize), ``typing``, ``concurrent.futures`` (with logging),
``hashlib`` (OpenSSL), ``shutil`` (bz2, lzma), nor anything of the stack file's loader
(yaml, pydantic). Each verb is run for real, in a fresh interpreter, against an engine
address where nothing answers: it loads all it needs before it fails at its first
request. The types that replaced dataclasses keep the dataclasses' behaviour and
survive the record's pickling.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stackr.graph import ResourceId
from stackr.project import settled
from stackr.project.apply import _Pool
from stackr.project.desired import desired_stack
from stackr.project.requests import request_bodies
from tests.unit.project.stacks import WEBAPP, load

REPO = Path(__file__).resolve().parents[3]
HEAVY = frozenset({
    "dataclasses", "inspect", "typing", "concurrent.futures", "logging", "hashlib",
    "shutil", "pickle", "yaml", "pydantic", "networkx", "stackr.config", "stackr.config.loader",
    "stackr.project.translate", "socket",
})
VERBS = (["down"], ["down", "--dry-run"], ["ps"], ["logs"], ["up", "-d"])


def _compiled(tmp_path: Path) -> settled.Compiled:
    stack, graph = load(WEBAPP, tmp_path)
    desired = desired_stack(stack, graph, {"busybox:latest": "sha256:aaa"})
    return settled.Compiled(stack.name, tuple(sorted(stack.services)), (), ("a warning",),
                            graph, desired, request_bodies(stack, desired))


def _loaded_by(verb: list[str], tmp_path: Path) -> tuple[set[str], str]:
    """The modules ``stackr -H <nowhere> VERB`` loads from a settled record; its stderr."""
    host = f"unix://{tmp_path}/nothing-answers.sock"
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    # The key the verb computes: the same options, environment and directory.
    options = argparse.Namespace(files=None, project_name=None, project_directory=None,
                                 env_files=None, profiles=None, host=host)
    key = settled.stack_key(options, environ, str(tmp_path))
    settled.record(key, _compiled(tmp_path), [tmp_path / "compose.yaml"])
    program = (
        "import json, sys\n"
        "from stackr.cli import main\n"
        f"main({['-H', host, *verb]!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=environ,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1])), result.stderr


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_a_verb_loads_nothing_heavy_before_its_first_request(verb: list[str],
                                                             tmp_path: Path) -> None:
    modules, stderr = _loaded_by(verb, tmp_path)
    assert "no engine answers" in stderr  # it got as far as asking the engine
    assert "stackr.project.settled" in modules
    assert sorted(HEAVY & modules) == []


def test_a_compiled_stack_comes_back_equal_from_its_record(tmp_path: Path) -> None:
    compiled = _compiled(tmp_path)
    settled.record("key", compiled, [])
    found = settled.lookup("key")
    assert found is not None
    for name in ("project", "services", "unattached", "warnings", "desired", "bodies"):
        assert getattr(found, name) == getattr(compiled, name), name
    assert found.graph.resources() == compiled.graph.resources()
    assert list(found.graph.edges()) == list(compiled.graph.edges())
    assert found.graph.start_generations() == compiled.graph.start_generations()
    assert pickle.loads(pickle.dumps(compiled.desired)) == compiled.desired


@dataclasses.dataclass(frozen=True, order=True)
class _DataclassId:
    """What ResourceId was."""

    kind: str
    name: str
    replica: int = 0


def test_resource_id_behaves_as_the_dataclass_it_was() -> None:
    triples = [("service", "web", 2), ("service", "web", 10), ("network", "web", 0),
               ("volume", "a", 0), ("service", "api", 1), ("image", "busybox:latest", 0)]
    ours = [ResourceId(*triple) for triple in triples]
    theirs = [_DataclassId(*triple) for triple in triples]
    assert [(r.kind, r.name, r.replica) for r in sorted(ours)] == [
        (r.kind, r.name, r.replica) for r in sorted(theirs)]
    for mine, other in itertools.product(ours, repeat=2):
        mine_was = _DataclassId(mine.kind, mine.name, mine.replica)
        other_was = _DataclassId(other.kind, other.name, other.replica)
        assert (mine < other, mine <= other, mine > other, mine >= other, mine == other) == (
            mine_was < other_was, mine_was <= other_was, mine_was > other_was,
            mine_was >= other_was, mine_was == other_was)
    web = ResourceId("service", "web", 1)
    assert web == ResourceId("service", "web", 1) and web != ResourceId("service", "web", 2)
    assert web != ("service", "web", 1) and web != _DataclassId("service", "web", 1)
    assert hash(web) == hash(ResourceId("service", "web", 1))
    assert ResourceId("network", "front") == ResourceId("network", "front", 0)
    assert repr(web) == "ResourceId(kind='service', name='web', replica=1)"
    assert str(web) == "service:web:1" and str(ResourceId("network", "front")) == "network:front"
    with pytest.raises(TypeError):
        _ = web < ("service", "web", 2)  # type: ignore[operator]
    with pytest.raises(dataclasses.FrozenInstanceError):
        web.name = "api"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del web.name
    match web:
        case ResourceId("service", name, replica):
            assert (name, replica) == ("web", 1)
        case _:
            pytest.fail("no match by position")
    assert pickle.loads(pickle.dumps(web)) == web


def test_the_pool_runs_at_most_its_workers_at_once_and_passes_errors_on() -> None:
    pool = _Pool(2, "test")
    running, most = 0, 0
    changed = threading.Condition()
    release = threading.Event()

    def call(number: int) -> None:
        nonlocal running, most
        with changed:
            running += 1
            most = max(most, running)
            changed.notify_all()
        release.wait(5)
        with changed:
            running -= 1
        if number == 3:
            raise ValueError("three")

    tasks = [pool.submit(call, number) for number in range(5)]
    with changed:
        assert changed.wait_for(lambda: running == 2, timeout=5)
    assert len(pool._threads) == 2  # the other calls wait for a thread
    release.set()
    for task in tasks[:3]:
        task.result()
    with pytest.raises(ValueError, match="three"):
        tasks[3].result()
    tasks[4].result()
    pool.shutdown()
    assert most == 2
    with pytest.raises(RuntimeError):
        pool.submit(call, 0)


def test_a_cancelling_shutdown_fails_the_calls_not_started() -> None:
    pool = _Pool(1, "test")
    started = threading.Event()
    release = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(5)

    first = pool.submit(blocking)
    waiting = pool.submit(blocking)
    assert started.wait(5)
    closer = threading.Thread(target=pool.shutdown, kwargs={"cancel": True})
    closer.start()
    with pytest.raises(RuntimeError, match="cancelled"):
        waiting.result()  # failed at once, not run
    release.set()
    closer.join(5)
    assert not closer.is_alive()
    first.result()
