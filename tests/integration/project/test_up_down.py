"""``stackr up``/``down`` end to end: a real engine, real containers, networks, volumes."""

from __future__ import annotations

import json
import socket
import urllib.request

from tests.integration.project.conftest import Project

THREE_SERVICES = """
services:
  db:
    image: busybox:latest
    init: true
    command: sh -c 'echo db starting; touch /tmp/ready; exec sleep 3600'
    volumes: [data:/data]
    healthcheck:
      test: [CMD-SHELL, test -f /tmp/ready]
      interval: 1s
      retries: 5
    networks: [back]
  api:
    image: busybox:latest
    init: true
    command: sh -c 'echo api $$MODE; touch /tmp/ready; exec sleep 3600'
    environment:
      MODE: {mode}
    healthcheck:
      test: [CMD-SHELL, test -f /tmp/ready]
      interval: 1s
      retries: 5
    depends_on:
      db: {{condition: service_healthy}}
    networks: [back, front]
  web:
    image: busybox:latest
    init: true
    command: [httpd, -f, -p, "8080", -h, /etc]
    ports: ["127.0.0.1:{port}:8080"]
    depends_on:
      api: {{condition: service_healthy}}
    networks: [front]
networks:
  front: {{}}
  back: {{internal: true}}
volumes:
  data: {{}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def assert_nothing_left(project: Project) -> None:
    client = project.engine.client()
    try:
        label = {"label": [f"io.stackr.project={project.name}"]}
        assert client.containers(all=True, filters=label) == []
        assert client.networks(filters=label) == []
    finally:
        client.close()
    from stackr.paths import state_root

    for kind in ("containers", "networks"):
        records = state_root() / "engine" / kind
        assert not records.exists() or not any(records.iterdir()), f"{kind} records left"
    # The shared leak check sees the whole host (other sessions' tests too); this one
    # sees exactly the containers this test made.
    from pathlib import Path

    leftover = [str(path) for container_id in project.seen_ids
                for path in Path("/sys/fs/cgroup").glob(f"*/stackr/{container_id}")]
    assert leftover == []


def test_up_converges_and_down_removes_everything(project: Project) -> None:
    port = free_port()
    project.write(THREE_SERVICES.format(mode="one", port=port))
    first = project.stackr("up", "-d")
    assert "webapp" not in first.stderr
    names = [f"{project.name}-{service}-1" for service in ("db", "api", "web")]
    rows = project.ps()
    assert sorted(rows) == sorted(names)
    assert all(row["State"] == "running" for row in rows.values())
    assert rows[names[0]]["Health"] == "healthy" and rows[names[1]]["Health"] == "healthy"
    assert rows[names[2]]["Ports"] == f"127.0.0.1:{port}->8080/tcp"
    # The order held: api started after db was healthy, web after api.
    order = [line.split()[1] for line in first.stderr.splitlines()
             if line.startswith("Container") and " Started " in line]
    assert order == names
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/passwd", timeout=10).read()
    assert b"root:x:0:0" in body
    ids = {name: row["ID"] for name, row in rows.items()}
    pids = project.pids()

    # A second up changes nothing and says so.
    again = project.stackr("up", "-d")
    assert "nothing to do" in again.stderr
    assert {name: row["ID"] for name, row in project.ps().items()} == ids
    dry = project.stackr("up", "-d", "--dry-run")
    assert "nothing to do" in dry.stdout

    # Changing api's environment recreates api, and nothing else.
    project.write(THREE_SERVICES.format(mode="two", port=port))
    plan = project.stackr("up", "--dry-run").stdout
    assert "service:api:1" in plan and "environment changed" in plan
    assert "service:db:1" not in plan and "service:web:1" not in plan
    project.stackr("up", "-d")
    after = project.ps()
    assert after[names[1]]["ID"] != ids[names[1]]
    assert {n: after[n]["ID"] for n in (names[0], names[2])} == \
        {n: ids[n] for n in (names[0], names[2])}
    new_pids = project.pids()
    assert new_pids[names[0]] == pids[names[0]] and new_pids[names[2]] == pids[names[2]]
    logs = project.stackr("logs", "api").stdout
    assert "api two" in logs

    exec_result = project.stackr("exec", "-e", "X=42", "api", "sh", "-c", "echo $X; exit 3",
                                 check=False)
    assert exec_result.returncode == 3 and exec_result.stdout.strip() == "42"

    down = project.stackr("down", "-v", "-t", "2")
    assert "Removed" in down.stderr
    assert_nothing_left(project)
    client = project.engine.client()
    try:
        assert [v for v in client.volumes() if v["Name"].startswith(project.name)] == []
    finally:
        client.close()


def test_down_works_when_the_stack_file_is_gone(project: Project) -> None:
    project.write("""
services:
  one:
    image: busybox:latest
    init: true
    command: sleep 3600
  two:
    image: busybox:latest
    init: true
    command: sleep 3600
    depends_on: [one]
volumes:
  kept: {}
""")
    project.stackr("up", "-d")
    assert len(project.ps()) == 2
    project.file.unlink()
    down = project.stackr("-p", project.name, "down")
    assert down.stderr.count("Removed") >= 3  # two containers and the default network
    assert_nothing_left(project)
    client = project.engine.client()
    try:  # a named volume outlives down without -v
        assert [v["Name"] for v in client.volumes()] == []  # never made: no service used it
    finally:
        client.close()


def test_orphans_are_reported_then_removed(project: Project) -> None:
    two = """
services:
  keep:
    image: busybox:latest
    init: true
    command: sleep 3600
  gone:
    image: busybox:latest
    init: true
    command: sleep 3600
"""
    project.write(two)
    project.stackr("up", "-d")
    project.write(two.split("  gone:")[0])
    warned = project.stackr("up", "-d")
    assert "orphan service(s) gone" in warned.stderr
    assert f"{project.name}-gone-1" in project.ps()
    project.stackr("up", "-d", "--remove-orphans")
    assert list(project.ps()) == [f"{project.name}-keep-1"]
    project.stackr("down")
    assert_nothing_left(project)


def test_a_failed_job_fails_its_dependants_with_its_logs(project: Project) -> None:
    project.write("""
services:
  migrate:
    image: busybox:latest
    command: sh -c 'echo migration 7 failed >&2; exit 3'
  app:
    image: busybox:latest
    init: true
    command: sleep 3600
    depends_on:
      migrate: {condition: service_completed_successfully}
""")
    result = project.stackr("up", "-d", check=False)
    assert result.returncode == 1, result.stderr
    assert "exited with code 3" in result.stderr
    assert "migration 7 failed" in result.stderr
    assert 'run "stackr up" again to resume or "stackr down" to clean up' in result.stderr
    rows = project.ps()
    assert rows[f"{project.name}-app-1"]["State"] == "created"
    project.stackr("down")
    assert_nothing_left(project)


def test_scale_and_a_successful_job(project: Project) -> None:
    project.write("""
services:
  migrate:
    image: busybox:latest
    command: sh -c 'echo migrated'
  app:
    image: busybox:latest
    init: true
    command: sleep 3600
    deploy: {replicas: 2}
    depends_on:
      migrate: {condition: service_completed_successfully}
""")
    project.stackr("up", "-d")
    rows = project.ps()
    assert sorted(rows) == sorted(f"{project.name}-{n}" for n in ("app-1", "app-2", "migrate-1"))
    project.stackr("up", "-d", "--scale", "app=1")
    assert f"{project.name}-app-2" not in project.ps()
    listed = json.loads(project.stackr("ps", "--format", "json").stdout)
    assert [row["Name"] for row in listed] == [f"{project.name}-app-1"]  # running only
    project.stackr("stop")
    assert all(row["State"] != "running" for row in project.ps().values())
    project.stackr("start", "app")
    assert project.ps()[f"{project.name}-app-1"]["State"] == "running"
    project.stackr("down")
    assert_nothing_left(project)


def test_secrets_and_configs_are_mounted_read_only(project: Project) -> None:
    (project.directory / "token.txt").write_text("file-secret\n")
    project.write("""
services:
  app:
    image: busybox:latest
    init: true
    command: sleep 3600
    secrets:
      - token
      - source: password
        target: db-password
        uid: "1000"
        mode: 0400
    configs:
      - source: settings
        target: /etc/app.conf
secrets:
  token: {file: ./token.txt}
  password: {environment: DB_PASSWORD}
configs:
  settings: {content: "level=debug"}
""")
    project.stackr("up", "-d", env={"DB_PASSWORD": "s3cret"})
    script = ("cat /run/secrets/token /run/secrets/db-password /etc/app.conf; echo; "
              "stat -c '%u %a' /run/secrets/db-password; "
              "{ echo x > /run/secrets/token; } 2>/dev/null || echo read-only")
    result = project.stackr("exec", "app", "sh", "-c", script)
    assert result.stdout.splitlines() == ["file-secret", "s3cretlevel=debug", "1000 400",
                                          "read-only"]
    project.stackr("down")
    assert_nothing_left(project)
    from stackr.project.secrets import project_directory

    assert not (project_directory(project.name) / "secrets").exists()


def test_up_builds_a_missing_image(project: Project) -> None:
    (project.directory / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN echo built-by-up > /built\nCMD [\"sleep\", \"3600\"]\n")
    project.write("""
services:
  app:
    build: .
    init: true
""")
    first = project.stackr("up", "-d")
    assert "Building" in first.stderr
    assert project.stackr("exec", "app", "cat", "/built").stdout == "built-by-up\n"
    again = project.stackr("up", "-d")
    assert "Building" not in again.stderr and "nothing to do" in again.stderr
    project.stackr("down", "--rmi", "local")
    assert_nothing_left(project)
    from stackr.images.store import ImageStore

    assert ImageStore().resolve(f"{project.name}-app") is None


def test_a_built_image_gets_its_build_tags_too(project: Project) -> None:
    (project.directory / "Dockerfile").write_text("FROM busybox:latest\nCMD [\"sleep\", \"3600\"]\n")
    project.write("""
services:
  app:
    build:
      context: .
      tags: ["registry.example/team/app:1.0", "app-extra"]
    init: true
""")
    project.stackr("up", "-d")
    from stackr.images.store import ImageStore

    store = ImageStore()
    built = store.resolve(f"{project.name}-app")
    assert built is not None
    for tag in ("registry.example/team/app:1.0", "app-extra:latest"):
        tagged = store.resolve(tag)
        assert tagged is not None and tagged.id == built.id, tag
    project.stackr("down")
    assert_nothing_left(project)


def test_an_anonymous_volume_keeps_its_data_across_a_recreate(project: Project) -> None:
    stack = """
services:
  app:
    image: busybox:latest
    init: true
    command: sleep 3600
    environment: {{ROUND: "{round}"}}
    volumes: [/app/node_modules]
"""
    project.write(stack.format(round=1))
    project.stackr("up", "-d")
    project.stackr("exec", "-T", "app", "sh", "-c", "echo kept > /app/node_modules/marker")
    project.write(stack.format(round=2))  # recreates the container
    project.stackr("up", "-d")
    marker = project.stackr("exec", "-T", "app", "cat", "/app/node_modules/marker")
    assert marker.stdout == "kept\n"
    project.stackr("up", "-d", "-V")  # nothing recreated: nothing renewed
    assert project.stackr("exec", "-T", "app", "cat", "/app/node_modules/marker").stdout \
        == "kept\n"
    project.write(stack.format(round=3))
    project.stackr("up", "-d", "--renew-anon-volumes")  # recreated with a new volume
    renewed = project.stackr("exec", "-T", "app", "ls", "-A", "/app/node_modules")
    assert renewed.stdout == ""

    def volume_names() -> list[str]:
        client = project.engine.client()
        try:
            return [v["Name"] for v in client.volumes() if v["Name"].startswith(project.name)]
        finally:
            client.close()

    [name] = volume_names()
    assert name.startswith(f"{project.name}_app-1-anon-")
    project.stackr("down", "-t", "1")
    assert volume_names() == [name]  # down keeps volumes, as in Compose ...
    project.stackr("down", "-v")
    assert volume_names() == []  # ... and down -v removes them


def test_post_start_and_pre_stop_hooks_run_in_the_container(project: Project) -> None:
    out = project.directory / "out"
    out.mkdir()
    project.write("""
services:
  app:
    image: busybox:latest
    init: true
    command: [sleep, "3600"]
    volumes: ["./out:/out"]
    post_start:
      - command: sh -c 'echo started >> /out/log'
      - command: ["sh", "-c", "echo $$GREETING $$(pwd) >> /out/log"]
        environment: {GREETING: hello}
        working_dir: /tmp
    pre_stop:
      - command: sh -c 'echo stopping >> /out/log'
""")
    log = out / "log"
    up = project.stackr("up", "-d")
    assert "post_start: sh -c" in up.stderr
    assert log.read_text() == "started\nhello /tmp\n"
    project.stackr("stop")  # from the records: the hooks are recorded with the container
    assert log.read_text().splitlines()[-1] == "stopping"
    project.stackr("start")
    project.stackr("down")
    assert log.read_text().splitlines()[2:] == ["stopping", "started", "hello /tmp",
                                                 "stopping"]
    assert_nothing_left(project)


def test_a_failing_hook_fails_up_or_down_with_its_output(project: Project) -> None:
    project.write("""
services:
  app:
    image: busybox:latest
    init: true
    command: [sleep, "3600"]
    post_start:
      - command: sh -c 'echo cannot warm the cache; exit 3'
""")
    failed = project.stackr("up", "-d", check=False)
    assert failed.returncode == 1
    assert "post_start hook sh -c 'echo cannot warm the cache; exit 3' exited with code 3" \
        in failed.stderr
    assert "cannot warm the cache" in failed.stderr
    # Compose's rule: the container stops.
    state = json.loads(project.stackr("ps", "-a", "--format", "json").stdout)
    assert [entry["State"] for entry in state] == ["exited"]
    project.write("""
services:
  app:
    image: busybox:latest
    init: true
    command: [sleep, "3600"]
    pre_stop:
      - command: ["false"]
""")
    project.stackr("up", "-d")
    refused = project.stackr("down", check=False)
    assert refused.returncode == 1 and "pre_stop hook false exited with code 1" in \
        refused.stderr
    state = json.loads(project.stackr("ps", "--format", "json").stdout)
    assert [entry["State"] for entry in state] == ["running"]  # the stop was refused
    project.stackr("kill")
    project.stackr("down")
    assert_nothing_left(project)


def test_a_service_gets_the_mac_address_it_asks_for(project: Project) -> None:
    project.write("""
services:
  app:
    image: busybox:latest
    init: true
    command: [sleep, "3600"]
    mac_address: 02:42:ac:11:00:2a
    networks: {default: {}, second: {mac_address: "02:42:ac:11:00:2b"}}
networks: {second: {}}
""")
    project.stackr("up", "-d")
    shown = project.stackr("exec", "app", "cat", "/sys/class/net/eth0/address",
                           "/sys/class/net/eth1/address").stdout.split()
    assert sorted(shown) == ["02:42:ac:11:00:2a", "02:42:ac:11:00:2b"]
    project.stackr("down")
    assert_nothing_left(project)
