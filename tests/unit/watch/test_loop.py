"""The loop against a fake applier: what each batch of changed paths makes it do."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from stackr.client.errors import EngineUnavailableError
from stackr.config.models import ServiceHook
from stackr.config.pipeline import LoadedStack, load_stack
from stackr.config.project import LoadOptions
from stackr.errors import ApplyError
from stackr.watch.debounce import Debouncer
from stackr.watch.loop import ApplyOutcome, WatchLoop
from stackr.watch.sync import SyncItem, SyncReport

STACK = """
name: dev
services:
  web:
    image: busybox
    environment: {MODE: one}
    develop:
      watch:
        - {path: ./src, target: /app, action: sync, initial_sync: true}
        - {path: ./conf, target: /etc/app, action: sync+restart}
        - {path: ./deps.txt, action: rebuild}
        - path: ./templates
          target: /app/templates
          action: sync+exec
          exec: {command: "kill -HUP 1", user: root}
  db:
    image: busybox
    env_file: db.env
"""


class FakeApplier:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.applied: list[LoadedStack] = []
        self.fail_apply: bool | str = False
        self.fail_sync = False
        self.state_map: dict[str, str] = {}

    def apply(self, loaded: LoadedStack) -> ApplyOutcome:
        if self.fail_apply == "unavailable":
            raise EngineUnavailableError("no engine answers at unix:///x")
        if self.fail_apply:
            raise ApplyError("engine: connection refused")
        self.calls.append(("apply",))
        self.applied.append(loaded)
        return ApplyOutcome(("web",), ("Container dev-web-1  Recreated  environment changed",))

    def sync(self, loaded: LoadedStack, service: str, items: list[SyncItem]) -> SyncReport:
        if self.fail_sync:
            raise ApplyError(f"{service} is not running")
        self.calls.append(("sync", service, *sorted(str(i.target) for i in items)))
        return SyncReport(copied=tuple(str(i.target) for i in items))

    def restart(self, loaded: LoadedStack, service: str) -> None:
        self.calls.append(("restart", service))

    def exec(self, loaded: LoadedStack, service: str, command: ServiceHook) -> int:
        self.calls.append(("exec", service, *command.command))
        return 0

    def rebuild(self, loaded: LoadedStack, service: str) -> None:
        self.calls.append(("rebuild", service))

    def states(self, loaded: LoadedStack) -> Mapping[str, str]:
        if self.state_map.get("") == "down":
            raise ApplyError("engine down")
        return dict(self.state_map)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "src/app.py").write_text("print(1)\n")
    (tmp_path / "deps.txt").write_text("x\n")
    (tmp_path / "db.env").write_text("A=1\n")
    (tmp_path / "compose.yaml").write_text(STACK)
    return tmp_path


def make_loop(project: Path) -> tuple[WatchLoop, FakeApplier, list[str]]:
    options = LoadOptions(files=(project / "compose.yaml",), cwd=project)
    applier = FakeApplier()
    lines: list[str] = []
    loop = WatchLoop(load_stack(options), lambda: load_stack(options), applier, lines.append)
    return loop, applier, lines


def test_invalid_edit_prints_diagnostics_and_applies_nothing(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    (project / "compose.yaml").write_text(STACK.replace("MODE: one", "MODE: [1, 2]")
                                          .replace("image: busybox\n    env_file",
                                                   "image: 12\n    ports: ['80:80:80:80']\n"
                                                   "    env_file"))
    loop.handle([project / "compose.yaml"])
    assert applier.calls == []
    assert "invalid" in lines[0] and "keeps running" in lines[0]
    assert any("compose.yaml:" in line and "ports" in line for line in lines[1:])
    # the old stack is still the one in force
    assert loop.loaded.stack.services["web"].environment["MODE"] == "one"


def test_valid_edit_applies_once_with_the_new_stack(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    (project / "compose.yaml").write_text(STACK.replace("MODE: one", "MODE: two"))
    loop.handle([project / "compose.yaml"] * 3)
    applies = [c for c in applier.calls if c[0] == "apply"]
    assert len(applies) == 1
    assert applier.applied[0].stack.services["web"].environment["MODE"] == "two"
    assert any("applied" in line and " ms)" in line for line in lines)
    # the recreated service gets its initial_sync rules copied again
    assert ("sync", "web", "/app") in applier.calls


def test_env_file_and_dotenv_reload(project: Path) -> None:
    loop, applier, _ = make_loop(project)
    (project / "db.env").write_text("A=2\n")
    loop.handle([project / "db.env"])
    assert applier.applied[-1].stack.services["db"].environment["A"] == "2"
    (project / ".env").write_text("X=1\n")  # created while watching
    loop.handle([project / ".env"])
    assert len(applier.applied) == 2


def test_deleted_stack_file_reported_and_recovered(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    text = (project / "compose.yaml").read_text()
    (project / "compose.yaml").unlink()
    loop.handle([project / "compose.yaml"])
    assert applier.calls == [] and "deleted: nothing was changed" in lines[-1]
    (project / "compose.yaml").write_text(text.replace("one", "three"))
    loop.handle([project / "compose.yaml"])
    assert applier.applied[-1].stack.services["web"].environment["MODE"] == "three"


def test_develop_actions(project: Path) -> None:
    loop, applier, _lines = make_loop(project)
    loop.handle([project / "src/app.py", project / "src/new.py"])
    assert applier.calls == [("sync", "web", "/app/app.py", "/app/new.py")]
    applier.calls.clear()
    loop.handle([project / "conf/a.conf"])
    assert applier.calls == [("sync", "web", "/etc/app/a.conf"), ("restart", "web")]
    applier.calls.clear()
    loop.handle([project / "deps.txt", project / "src/app.py"])
    assert applier.calls[:2] == [("rebuild", "web"), ("apply",)]
    assert ("sync", "web", "/app/app.py") not in applier.calls  # the rebuild covers it


def test_failures_are_reported_and_the_loop_goes_on(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    applier.fail_sync = True
    loop.handle([project / "conf/a.conf"])
    assert ("restart", "web") not in applier.calls
    assert "not running" in lines[-1]
    applier.fail_apply = True
    (project / "compose.yaml").write_text(STACK.replace("one", "two"))
    loop.handle([project / "compose.yaml"])
    assert "apply failed" in lines[-2] and "watch goes on" in lines[-1]
    applier.fail_apply = False
    loop.handle([project / "compose.yaml"])
    assert len(applier.applied) == 1


def test_initial_sync(project: Path) -> None:
    loop, applier, _ = make_loop(project)
    loop.initial_sync()
    assert applier.calls == [("sync", "web", "/app")]


def test_state_changes_reported(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    applier.state_map = {"dev-web-1": "running"}
    loop.check_states()
    applier.state_map = {"dev-web-1": "exited (1)"}
    loop.check_states()
    assert lines[-1] == "dev-web-1: running → exited (1)"
    applier.state_map = {"": "down"}
    loop.check_states()
    loop.check_states()
    assert sum("engine unreachable" in line for line in lines) == 1
    applier.state_map = {"dev-web-1": "running"}
    loop.check_states()
    assert lines[-1] == "engine reachable again"


def test_first_look_reports_containers_already_down(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    applier.state_map = {"dev-web-1": "running", "dev-db-1": "exited (3)"}
    loop.check_states()
    assert lines == ["dev-db-1: exited (3)"]
    loop.check_states()
    assert lines == ["dev-db-1: exited (3)"]  # said once, not at every look


def test_run_with_debouncer_one_apply_for_a_burst(project: Path) -> None:
    loop, applier, _ = make_loop(project)
    debouncer: Debouncer[Path] = Debouncer(0.05)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(debouncer, stop, 0.05))
    thread.start()
    try:
        for index in range(50):
            (project / "compose.yaml").write_text(STACK.replace("one", f"v{index}"))
            debouncer.add(project / "compose.yaml")
        while loop.batches == 0:
            thread.join(0.01)
    finally:
        stop.set()
        debouncer.close()
        thread.join(5)
    assert loop.applies == 1
    assert applier.applied[0].stack.services["web"].environment["MODE"] == "v49"


def test_state_text_has_no_moving_parts() -> None:
    from stackr.watch.engine_applier import _state_text

    assert _state_text({"State": "exited", "Status": "Exited (3) 2 seconds ago"}) == "exited (3)"
    assert _state_text({"State": "restarting", "Status": "Restarting (1)"}) == "restarting (1)"
    assert _state_text({"State": "running", "Status": "Up 5 seconds"}) == "running"


def test_apply_without_an_engine_is_retried_once_it_answers(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    applier.fail_apply = "unavailable"
    (project / "compose.yaml").write_text(STACK.replace("one", "two"))
    loop.handle([project / "compose.yaml"])
    assert "once the engine answers" in lines[-1] and applier.applied == []
    applier.fail_apply = False
    loop.check_states()
    assert len(applier.applied) == 1
    assert applier.applied[0].stack.services["web"].environment["MODE"] == "two"
    loop.check_states()
    assert len(applier.applied) == 1  # once


def test_sync_exec_syncs_then_runs_the_command(project: Path) -> None:
    loop, applier, lines = make_loop(project)
    loop.handle([project / "templates/page.html"])
    assert applier.calls == [
        ("sync", "web", "/app/templates/page.html"),
        ("exec", "web", "kill", "-HUP", "1"),
    ]
    assert any("ran 'kill -HUP 1': exit 0" in line for line in lines)
