"""``stackr watch`` end to end: a real engine, real containers, real inotify."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stackr.naming import LABEL_PROJECT
from tests.integration.project.conftest import Project

# sleep as PID 1 ignores SIGTERM: without stop_signal each recreate waits out the grace
TWO = """
services:
  web:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    environment: {MODE: one}
  db:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
"""


def containers(project: Project) -> dict[str, dict[str, Any]]:
    """name → inspect, from the engine (``stackr ps`` would read the possibly invalid
    file)."""
    client = project.engine.client()
    try:
        summaries = client.containers(all=True, filters={"label": [
            f"{LABEL_PROJECT}={project.name}"]})
        return {str(s["Names"][0]).lstrip("/"): client.container_inspect(s["Id"])
                for s in summaries}
    finally:
        client.close()


def running(project: Project) -> dict[str, int]:
    found = containers(project)
    assert all(c["State"]["Running"] for c in found.values()), found
    return {name: int(c["State"]["Pid"]) for name, c in found.items()}


def test_invalid_edit_harmless_env_edit_recreates_one_ctrl_c_leaves_up(
        project: Project, start_watch: Any) -> None:
    project.write(TWO)
    watch = start_watch(project)
    watch.wait_for("watching")
    before = running(project)
    assert len(before) == 2

    project.write(TWO.replace("environment: {MODE: one}", "environment: {MODE: [1, 2]}")
                  .replace('stop_signal: SIGKILL\n', 'ports: ["80:80:80:80"]\n', 1))
    watch.wait_for("the stack is invalid")
    diagnostics = watch.wait_for("compose.yaml:")
    assert "compose.yaml:" in diagnostics
    assert running(project) == before  # the same processes, still running

    project.write(TWO.replace("MODE: one", "MODE: two"))
    watch.wait_for("compose.yaml changed: applied")
    after = running(project)
    web = next(name for name in after if "web" in name)
    db = next(name for name in after if "db" in name)
    assert after[db] == before[db]
    assert after[web] != before[web]

    # a deleted stack file: reported, nothing stops; back again: applied
    text = project.file.read_text()
    project.file.unlink()
    watch.wait_for("deleted: nothing was changed")
    assert running(project) == after
    project.file.write_text(text.replace("MODE: two", "MODE: three"))
    watch.wait_for("compose.yaml changed: applied")

    assert watch.interrupt() == 0  # Ctrl-C: the stack stays up
    assert len(running(project)) == 2


def test_burst_of_50_writes_is_one_reapply_and_down_on_exit(
        project: Project, start_watch: Any) -> None:
    project.write(TWO)
    watch = start_watch(project)  # the default debounce
    watch.wait_for("watching")
    for index in range(50):
        project.write(TWO.replace("MODE: one", f"MODE: burst{index}"))
    watch.wait_for("compose.yaml changed: applied")
    project.write(TWO.replace("MODE: one", "MODE: marker"))  # a later, separate edit
    watch.wait_for("compose.yaml changed: applied")
    assert watch.count("changed: applied") == 2, "\n".join(watch.lines)
    assert len(running(project)) == 2
    assert watch.interrupt() == 0  # without --down: the stack stays up
    assert len(running(project)) == 2

    down_watch = start_watch(project, "--no-up", "--down")
    down_watch.wait_for("watching")
    assert down_watch.interrupt() == 0
    assert containers(project) == {}


SYNC = """
services:
  app:
    image: {image}
    command: [/bin/busybox, sleep, "3600"]
    stop_signal: SIGKILL
    user: app
    develop:
      watch:
        - path: ./src
          target: /app
          action: sync
          ignore: ["*.log"]
"""


def app_root(project: Project) -> Path:
    pids = running(project)
    (pid,) = pids.values()
    return Path(f"/proc/{pid}/root/app")


def test_sync_into_a_container_without_a_shell(project: Project, start_watch: Any,
                                               shell_less_image: str) -> None:
    (project.directory / "src").mkdir()
    (project.directory / "src/changed.txt").write_text("v1")
    (project.directory / "src/old-name.txt").write_text("rename me")
    (project.directory / "src/gone.txt").write_text("delete me")
    project.write(SYNC.replace("{image}", shell_less_image).replace(
        "action: sync\n", "action: sync\n          initial_sync: true\n"))
    watch = start_watch(project)
    watch.wait_for("app: initial sync")
    root = app_root(project)
    assert (root / "changed.txt").read_text() == "v1"

    src = project.directory / "src"
    (src / "new.txt").write_text("brand new")
    (src / "changed.txt").write_text("v2")
    (src / "gone.txt").unlink()
    (src / "old-name.txt").rename(src / "new-name.txt")
    (src / "debug.log").write_text("ignored")
    (src / "sub").mkdir()
    (src / "sub/deep.txt").write_text("deep")
    watch.wait_for("app: sync:")
    # a later edit's sync proves every earlier event was handled
    (src / "marker").write_text("m")
    while not (root / "marker").exists():
        watch.wait_for("app: sync:")
    assert (root / "new.txt").read_text() == "brand new"
    assert (root / "changed.txt").read_text() == "v2"
    assert not (root / "gone.txt").exists()
    assert not (root / "old-name.txt").exists()
    assert (root / "new-name.txt").read_text() == "rename me"
    assert (root / "sub/deep.txt").read_text() == "deep"
    assert not (root / "debug.log").exists()
    info = os.stat(root / "new.txt")
    assert (info.st_uid, info.st_gid) == (1000, 1000)  # the container's user "app"
    # seen from inside too, by the container's own busybox (no shell involved)
    inside = project.stackr("-p", project.name, "exec", "-T", "app",
                            "/bin/busybox", "cat", "/app/new-name.txt")
    assert inside.stdout == "rename me"
    assert watch.interrupt() == 0


ROBUST = """
services:
  app:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./src, target: /app, action: sync}
        - {path: ./conf, target: /etc/app, action: sync+restart}
  crasher:
    image: busybox:latest
    command: [sh, -c, "read line < /app-go 2>/dev/null; sleep 1; exit 3"]
"""


def test_restart_crash_and_directory_moved_away_and_back(
        project: Project, start_watch: Any, tmp_path: Path) -> None:
    src = project.directory / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg/a.txt").write_text("a1")
    (project.directory / "conf").mkdir()
    project.write(ROBUST)
    watch = start_watch(project, "--no-up")  # first up, then watch it as it runs
    watch.wait_for("watching")  # --no-up with nothing running: watch still starts
    watch.interrupt()
    project.stackr("-p", project.name, "up", "-d")
    watch = start_watch(project, "--no-up")
    watch.wait_for("watching")

    # the crasher exits 3 a second after it starts: said, and the watch goes on
    watch.wait_for("exited (3)")  # a flip, or the first look if it was quicker

    # sync+restart: the file lands, then the container restarts (a new process)
    pid_before = next(p for name, p in containers_pids(project).items() if "-app-" in name)
    (project.directory / "conf/app.conf").write_text("x=1")
    watch.wait_for("app: restarted")
    app_pid = next(p for name, p in containers_pids(project).items() if "-app-" in name)
    assert app_pid != pid_before
    assert Path(f"/proc/{app_pid}/root/etc/app/app.conf").read_text() == "x=1"

    # the synced directory moved away: said; moved back with changes: synced whole
    src.rename(tmp_path / "src.away")
    watch.wait_for("src is gone")
    (tmp_path / "src.away/pkg/a.txt").write_text("a2")
    (tmp_path / "src.away/pkg/b.txt").write_text("b")
    (tmp_path / "src.away").rename(src)
    watch.wait_for("app: sync:")
    root = Path(f"/proc/{app_pid}/root/app")
    assert (root / "pkg/a.txt").read_text() == "a2"
    assert (root / "pkg/b.txt").read_text() == "b"
    # and it is watched again
    (src / "pkg/c.txt").write_text("c")
    watch.wait_for("app: sync:")
    assert (root / "pkg/c.txt").read_text() == "c"
    assert watch.interrupt() == 0


def containers_pids(project: Project) -> dict[str, int]:
    return {name: int(c["State"]["Pid"]) for name, c in containers(project).items()
            if c["State"]["Running"]}


BUILT = """
services:
  web:
    build: ./web
    stop_signal: SIGKILL
"""


def test_build_context_change_rebuilds_and_recreates(project: Project,
                                                     start_watch: Any) -> None:
    web = project.directory / "web"
    web.mkdir()
    (web / "Dockerfile").write_text('FROM busybox:latest\nCOPY msg.txt /msg.txt\n'
                                    'CMD ["sleep", "3600"]\n')
    (web / "msg.txt").write_text("one")
    (web / ".dockerignore").write_text("*.tmp\n")
    project.write(BUILT)
    watch = start_watch(project)
    watch.wait_for("watching", timeout=120)
    (pid,) = running(project).values()
    assert Path(f"/proc/{pid}/root/msg.txt").read_text() == "one"

    (web / "scratch.tmp").write_text("ignored by .dockerignore: no rebuild")
    (web / "msg.txt").write_text("two")
    watch.wait_for("web: image rebuilt", timeout=120)
    watch.wait_for("applied")
    (pid,) = running(project).values()
    assert Path(f"/proc/{pid}/root/msg.txt").read_text() == "two"
    assert watch.count("image rebuilt") == 1
    assert watch.interrupt() == 0


def test_engine_killed_watch_goes_on(project: Project, start_watch: Any) -> None:
    """The engine SIGKILLed under a watch: the watch goes on; the next edit's apply
    starts an engine again (the embedded default), which re-adopts the running
    containers, and recreates only the edited service."""
    project.write(TWO)
    watch = start_watch(project)
    watch.wait_for("watching")
    before = running(project)
    project.engine.kill()
    project.write(TWO.replace("MODE: one", "MODE: after-crash"))
    try:
        # applied at once if the apply itself starts the engine, else as soon as the
        # state check (every 2 s) has started one
        watch.wait_for(": applied")
        after = running(project)
        changed = [name for name in after if after[name] != before.get(name)]
        assert changed == [next(name for name in after if "-web-" in name)]
        assert watch.interrupt() == 0
    finally:
        # the engine watch started is not the fixture's: take it all down here
        project.stackr("-p", project.name, "down", "-v", "-t", "1", check=False)
        project.stackr("engine", "stop", check=False)


def test_env_file_and_dotenv_edits_reapply(project: Project, start_watch: Any) -> None:
    """What Compose's watch ignores while it runs (compose#11003): an env_file edit
    recreates the service that reads it; a .env edit re-interpolates the stack."""
    (project.directory / "web.env").write_text("GREETING=hello\n")
    project.write(TWO.replace("environment: {MODE: one}", "env_file: web.env")
                  .replace('db:\n    image: busybox:latest\n    command: [sleep, "3600"]',
                           'db:\n    image: busybox:latest\n    command: [sleep, "${DB_SLEEP:-3600}"]'))
    watch = start_watch(project)
    watch.wait_for("watching")
    before = running(project)
    (project.directory / "web.env").write_text("GREETING=bonjour\n")
    watch.wait_for("web.env changed: applied")
    after = running(project)
    assert [n for n in after if after[n] != before[n]] == [n for n in after if "-web-" in n]
    (project.directory / ".env").write_text("DB_SLEEP=3601\n")  # created while watching
    watch.wait_for(".env changed: applied")
    final = running(project)
    assert [n for n in final if final[n] != after[n]] == [n for n in final if "-db-" in n]
    web = next(c for n, c in containers(project).items() if "-web-" in n)
    assert "GREETING=bonjour" in web["Config"]["Env"]
    assert watch.interrupt() == 0


SYNC_EXEC = """
services:
  app:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    develop:
      watch:
        - path: ./templates
          target: /srv/templates
          action: sync+exec
          exec:
            command: [sh, -c, "ls /srv/templates > /tmp/reloaded"]
            environment: {REASON: watch}
"""


def test_sync_exec_runs_the_command_after_the_files_land(
        project: Project, start_watch: Any) -> None:
    (project.directory / "templates").mkdir()
    project.write(SYNC_EXEC)
    watch = start_watch(project)
    watch.wait_for("watching")
    (project.directory / "templates/page.html").write_text("<p>hi</p>")
    watch.wait_for("app: ran")
    inside = project.stackr("-p", project.name, "exec", "-T", "app", "cat", "/tmp/reloaded")
    assert inside.stdout.split() == ["page.html"]
    assert watch.interrupt() == 0
