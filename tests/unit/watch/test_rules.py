from __future__ import annotations

from pathlib import Path, PurePosixPath

from stackr.config.models import Stack
from stackr.config.pipeline import load_stack
from stackr.config.project import LoadOptions
from stackr.watch.rules import compile_triggers, is_ephemeral, match_changes, watched_roots

STACK = """
name: dev
services:
  web:
    build: ./web
    develop:
      watch:
        - {path: ./web/src, target: /app/src, action: sync, ignore: ["*.log", "cache/"]}
        - {path: ./web/package.json, action: rebuild}
        - {path: ./web/conf, target: /etc/app, action: sync+restart, include: ["*.conf"]}
  worker:
    build: ./worker
  db:
    image: busybox
"""


def load(tmp_path: Path, dockerignore: str = "") -> Stack:
    for directory in ("web/src", "web/conf", "worker"):
        (tmp_path / directory).mkdir(parents=True, exist_ok=True)
    (tmp_path / "web/Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "worker/Dockerfile").write_text("FROM busybox\n")
    if dockerignore:
        (tmp_path / "web/.dockerignore").write_text(dockerignore)
        (tmp_path / "worker/.dockerignore").write_text(dockerignore)
    (tmp_path / "compose.yaml").write_text(STACK)
    return load_stack(LoadOptions(files=(tmp_path / "compose.yaml",), cwd=tmp_path)).stack


def test_sync_rule_maps_to_target_and_honours_ignore(tmp_path: Path) -> None:
    stack = load(tmp_path)
    watch, contexts = compile_triggers(stack, [tmp_path / "compose.yaml"])
    changed = match_changes(watch, contexts, [
        tmp_path / "web/src/main.py",
        tmp_path / "web/src/debug.log",
        tmp_path / "web/src/cache/x.bin",
        tmp_path / "web/src/.main.py.swp",
        tmp_path / "web/src/.git/HEAD",
    ])
    assert list(changed) == ["web"]
    web = changed["web"]
    assert web.action == "sync"
    assert [path for _, path in web.syncs] == [tmp_path / "web/src/main.py"]
    rule, path = web.syncs[0]
    assert rule.target_for(path) == PurePosixPath("/app/src/main.py")
    assert rule.target_for(tmp_path / "web/src") == PurePosixPath("/app/src")


def test_rebuild_wins_and_include_filters(tmp_path: Path) -> None:
    stack = load(tmp_path)
    watch, contexts = compile_triggers(stack, [])
    changed = match_changes(watch, contexts, [tmp_path / "web/src/a.py",
                                              tmp_path / "web/package.json"])
    assert changed["web"].action == "rebuild"
    conf = match_changes(watch, contexts, [tmp_path / "web/conf/app.conf",
                                           tmp_path / "web/conf/readme.md"])
    assert conf["web"].action == "sync+restart"
    assert [p.name for _, p in conf["web"].syncs] == ["app.conf"]


def test_context_of_service_without_rules_rebuilds(tmp_path: Path) -> None:
    stack = load(tmp_path, dockerignore="*.tmp\n!keep.tmp\n")
    watch, contexts = compile_triggers(stack, [])
    assert [c.service for c in contexts] == ["worker"]
    assert match_changes(watch, contexts, [tmp_path / "worker/x.tmp"]) == {}
    assert match_changes(watch, contexts, [tmp_path / "worker/keep.tmp"])["worker"].rebuild
    assert match_changes(watch, contexts, [tmp_path / "elsewhere.txt"]) == {}


def test_dockerignore_applies_to_sync_rules(tmp_path: Path) -> None:
    stack = load(tmp_path, dockerignore="src/generated\n")
    watch, contexts = compile_triggers(stack, [])
    assert match_changes(watch, contexts, [tmp_path / "web/src/generated/a.py"]) == {}
    assert "web" in match_changes(watch, contexts, [tmp_path / "web/src/b.py"])


def test_stack_file_and_dockerfile_never_synced(tmp_path: Path) -> None:
    text = STACK.replace("./web/src, target: /app/src", "./web, target: /app")
    for directory in ("web/src", "web/conf", "worker"):
        (tmp_path / directory).mkdir(parents=True, exist_ok=True)
    (tmp_path / "web/Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "web/compose.yaml").write_text(text)
    stack = load_stack(LoadOptions(files=(tmp_path / "web/compose.yaml",), cwd=tmp_path,
                                   project_directory=tmp_path)).stack
    watch, contexts = compile_triggers(stack, [tmp_path / "web/compose.yaml"])
    changed = match_changes(watch, contexts, [tmp_path / "web/Dockerfile",
                                              tmp_path / "web/compose.yaml",
                                              tmp_path / "web/app.py"])
    assert [p.name for _, p in changed["web"].syncs] == ["app.py"]


def test_watched_roots(tmp_path: Path) -> None:
    stack = load(tmp_path)
    watch, contexts = compile_triggers(stack, [tmp_path / "compose.yaml"])
    roots = watched_roots(watch, contexts, [tmp_path / "compose.yaml"])
    assert tmp_path / "web/src" in roots and tmp_path / "worker" in roots
    assert tmp_path / "compose.yaml" in roots


def test_ephemeral_names() -> None:
    for name in ("a.py~", ".a.py.swp", "4913", ".#a.py", "#a.py#", "x___jb_tmp___",
                 ".git/index"):
        assert is_ephemeral(Path(name)), name
    assert not is_ephemeral(Path("src/a.py"))
    assert not is_ephemeral(Path(".gitignore"))
