"""``include``: other stack files' resources imported, each loaded as a stack of its own."""

from __future__ import annotations

from pathlib import Path

from stackr.config.loader import stack_file_paths
from tests.unit.config.test_extends import load, problems


def test_an_included_stack_keeps_its_own_environment_and_paths(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    (db / ".env").write_text("SLEEP=4242\nSHADOWED=from-dotenv\n")
    (db / "pass.txt").write_text("secret")
    (db / "compose.yaml").write_text("""
name: ignored
services:
  db:
    image: busybox
    command: sleep ${SLEEP} ${SHADOWED}
    volumes: ["./data:/data", "dbdata:/var/lib/db"]
volumes:
  dbdata: {}
secrets:
  dbpass:
    file: ./pass.txt
""")
    loaded = load(tmp_path, """
include: [db/compose.yaml]
services:
  web:
    image: busybox
    depends_on: [db]
    secrets: [dbpass]
""", {"SHADOWED": "from-shell"})
    stack = loaded.stack
    assert stack.name != "ignored"  # the including stack names the project
    assert stack.services["db"].command == ("sleep", "4242", "from-shell")
    assert {m.target: m.source for m in stack.services["db"].volumes} == {
        "/data": str(db / "data"), "/var/lib/db": "dbdata"}
    assert set(stack.volumes) == {"dbdata"}
    assert stack.secrets["dbpass"].file == str(db / "pass.txt")
    assert db / "compose.yaml" in stack_file_paths(loaded.raw)  # watch follows it


def test_the_long_form_with_its_project_directory_and_env_file(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "cache.yml").write_text(
        "services:\n  cache:\n    image: busybox\n    build: ./ctx\n"
        "    command: sleep ${WAIT}\n")
    (tmp_path / "cache.env").write_text("WAIT=7\n")
    loaded = load(tmp_path, """
include:
  - path: parts/cache.yml
    project_directory: .
    env_file: cache.env
services: {}
""")
    cache = loaded.stack.services["cache"]
    assert cache.command == ("sleep", "7")
    assert cache.build is not None and cache.build.context == str(tmp_path / "ctx")


def test_mistakes_are_said_at_the_include(tmp_path: Path) -> None:
    (tmp_path / "one.yml").write_text("services:\n  web:\n    image: busybox\n")
    (tmp_path / "loop.yml").write_text("include: [compose.yaml]\nservices: {}\n")
    found = problems(tmp_path, """
include:
  - one.yml
  - missing.yml
  - {path: 3}
  - loop.yml
services:
  web:
    image: busybox
""")
    assert "compose.yaml:3:5: include[0]: services.web is defined both here and in the " \
        "included file (Compose refuses it too)" in found
    assert "compose.yaml:4:5: include[1]: file missing.yml not found" in found
    assert "compose.yaml:5:5: include[2]: an include entry is a path or {path, " \
        "project_directory, env_file}" in found
    assert any("include cycle: compose.yaml → loop.yml → compose.yaml" in p for p in found)
