"""The settled record's key and files (``stackr.project.settled``), without an engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from stackr.config.models import Stack
from stackr.config.pipeline import load_stack
from stackr.config.project import LoadOptions
from stackr.project import settled


def args(**given: object) -> argparse.Namespace:
    defaults: dict[str, object] = {flag: None for flag in settled.PLAN_FLAGS}
    defaults.update(files=None, project_name=None, project_directory=None, env_files=None,
                    profiles=None, host=None, detach=True)
    defaults.update(given)
    return argparse.Namespace(**defaults)


def test_the_key_follows_the_environment_but_not_the_shells_bookkeeping() -> None:
    key = settled.invocation_key(args(), {"A": "1", "_": "/usr/bin/time"}, "/srv")
    assert key == settled.invocation_key(args(), {"A": "1", "_": "/usr/bin/stackr",
                                                  "OLDPWD": "/"}, "/srv")
    assert key != settled.invocation_key(args(), {"A": "2"}, "/srv")
    assert key != settled.invocation_key(args(), {"A": "1"}, "/elsewhere")
    assert key != settled.invocation_key(args(project_name="other"), {"A": "1"}, "/srv")


def test_flags_that_change_the_plan_have_no_key() -> None:
    for flag in settled.PLAN_FLAGS:
        value: object = ["web"] if flag in ("services", "scale") else True
        assert settled.invocation_key(args(**{flag: value}), {}, "/srv") is None


def test_the_files_include_those_looked_for_and_absent(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\n    env_file: [app.env]\n")
    (tmp_path / "app.env").write_text("A=1\n")
    nested = tmp_path / "sub"
    nested.mkdir()
    options = LoadOptions(environ={}, cwd=nested)
    files = settled.consulted_files(load_stack(options), options)
    assert tmp_path / "compose.yaml" in files and tmp_path / "app.env" in files
    assert tmp_path / ".env" in files  # absent, but it would change the environment
    assert nested / "compose.yaml" in files  # absent, but it would be chosen instead
    assert tmp_path.parent / "compose.yaml" not in files  # beyond where one was found


def test_only_stacks_decided_by_files_and_images_are_recorded(tmp_path: Path) -> None:
    def stack(text: str) -> Stack:
        (tmp_path / "compose.yaml").write_text(text)
        return load_stack(LoadOptions(environ={}, cwd=tmp_path)).stack

    plain = stack("services:\n  app:\n    image: busybox\n")
    assert settled.eligible(plain, ())
    assert not settled.eligible(plain, ("network:outside",))
    for extra in ("    build: .\n", "    pull_policy: always\n", "    secrets: [token]\n"):
        text = "services:\n  app:\n    image: busybox\n" + extra
        if "secrets" in extra:
            (tmp_path / "token").write_text("x")
            text += "secrets:\n  token:\n    file: ./token\n"
        assert not settled.eligible(stack(text), ())


def compiled(project: str = "demo", warnings: tuple[str, ...] = ()) -> settled.Compiled:
    from stackr.graph import StackGraph
    from stackr.project.desired import DesiredStack
    from stackr.project.requests import Bodies

    desired = DesiredStack(project, {}, {}, {}, {}, frozenset())
    return settled.Compiled(project, ("app",), (), warnings, StackGraph.from_edges([]),
                            desired, Bodies({}, {}, {}))


def test_a_changed_file_voids_the_record(tmp_path: Path) -> None:
    watched = tmp_path / "compose.yaml"
    watched.write_text("a")
    settled.record("k1", compiled(warnings=("w",)), [watched, tmp_path / ".env"])
    found = settled.lookup("k1")
    assert found is not None and found.warnings == ("w",) and found.services == ("app",)
    (tmp_path / ".env").write_text("")  # a file that was absent appears
    assert settled.lookup("k1") is None
    (tmp_path / ".env").unlink()
    watched.write_text("b")
    assert settled.lookup("k1") is None
    settled.record("k2", compiled(), [watched])
    assert settled.lookup("k1") is None  # one record per project
    settled.forget("demo")
    assert settled.lookup("k2") is None


def test_the_name_verbs_read_the_project_from_the_record(tmp_path: Path) -> None:
    watched = tmp_path / "compose.yaml"
    watched.write_text("name: demo\n")
    given = args(remove_orphans=True)  # down's flags do not matter for the name
    key = settled.stack_key(given, {"A": "1"}, str(tmp_path))
    settled.record(key, compiled(), [watched])
    assert settled.project_name(given, {"A": "1"}, str(tmp_path)) == "demo"
    assert settled.project_name(given, {"A": "2"}, str(tmp_path)) is None
    watched.write_text("name: other\n")
    assert settled.project_name(given, {"A": "1"}, str(tmp_path)) is None
