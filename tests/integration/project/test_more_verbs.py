"""kill, rm, top, port, ls and stats, called in-process with the project options the CLI
would give them."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

import pytest

from tests.integration.project.conftest import REPO, Project


def invoke(project: Project, verb: str, *argv: str) -> int:
    module = importlib.import_module(f"stackr.commands.{verb}")
    parser = argparse.ArgumentParser(prog=f"stackr {verb}")
    parser.add_argument("-p", "--project-name", default=project.name)
    parser.add_argument("-H", "--host", default=None)
    module.configure(parser)
    args = parser.parse_args(list(argv))
    old = os.getcwd()
    os.chdir(project.directory)
    try:
        exit_code: int = module.run(args)
        return exit_code
    finally:
        os.chdir(old)


def freezer_state(project: Project, service: str) -> str:
    """The freezer state of the service's container, read from the host's cgroup tree
    (v1 here; v2 has cgroup.freeze)."""
    from pathlib import Path

    container_id = project.ps()[f"{project.name}-{service}-1"]["ID"]
    matches = list(Path("/sys/fs/cgroup/freezer/stackr").glob(f"{container_id}*/freezer.state"))
    if not matches:
        pytest.skip("no cgroup v1 freezer hierarchy on this host")
    return matches[0].read_text().strip()


def test_kill_rm_top_port_ls(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("""
services:
  web:
    image: busybox:latest
    init: true
    command: [httpd, -f, -p, "8080", -h, /etc]
    ports: ["127.0.0.1::8080"]
  idle:
    image: busybox:latest
    init: true
    command: sleep 3600
""")
    project.stackr("up", "-d")
    capsys.readouterr()
    assert invoke(project, "port", "web", "8080") == 0
    address = capsys.readouterr().out.strip()
    assert address.startswith("127.0.0.1:") and int(address.split(":")[1]) > 0
    assert invoke(project, "top", "idle") == 0
    assert "sleep 3600" in capsys.readouterr().out
    assert invoke(project, "stats", "--no-stream") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "PIDS"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert set(rows) == {f"{project.name}-web-1", f"{project.name}-idle-1"}
    assert int(rows[f"{project.name}-idle-1"][-1]) >= 1  # init and sleep
    assert invoke(project, "ls", "--format", "json") == 0
    listed = {row["Name"]: row["Status"] for row in json.loads(capsys.readouterr().out)}
    assert listed[project.name] == "running(2)"
    assert invoke(project, "pause", "idle") == 0
    assert capsys.readouterr().out.split() == ["Container", f"{project.name}-idle-1", "Paused"]
    assert project.ps()[f"{project.name}-idle-1"]["State"] == "paused"
    assert freezer_state(project, "idle") == "FROZEN"
    assert project.stackr("up", "-d").returncode == 0  # a paused service is left as it is
    assert invoke(project, "unpause", "idle") == 0
    assert capsys.readouterr().out.split() == ["Container", f"{project.name}-idle-1", "Unpaused"]
    assert project.ps()[f"{project.name}-idle-1"]["State"] == "running"
    assert freezer_state(project, "idle") == "THAWED"
    assert invoke(project, "pause", "idle") == 0
    capsys.readouterr()
    assert invoke(project, "kill", "idle") == 0  # a paused container is thawed to be killed
    assert capsys.readouterr().out.split() == [f"{project.name}-idle-1"]
    assert project.ps()[f"{project.name}-idle-1"]["State"] == "exited"
    assert invoke(project, "rm", "idle") == 0
    assert f"{project.name}-idle-1" not in project.ps()
    project.stackr("down")


def test_run_a_one_off_with_its_dependencies_and_its_exit_code(project: Project) -> None:
    project.write("""
services:
  db:
    image: busybox:latest
    init: true
    command: sleep 3600
  app:
    image: busybox:latest
    init: true
    command: sleep 3600
    depends_on: [db]
    environment: {GREETING: hello}
""")
    done = project.stackr("run", "--rm", "app", "sh", "-c",
                          'echo "$GREETING from run"; nslookup db >/dev/null && exit 7',
                          check=False)
    assert done.returncode == 7, done.stderr
    assert "hello from run" in done.stdout
    containers = project.ps()
    assert set(containers) == {f"{project.name}-db-1"}  # the dependency, no app replica
    kept = project.stackr("run", "-e", "GREETING=bye", "app", "sh", "-c", 'echo "$GREETING"')
    assert kept.stdout.strip() == "bye"
    project.stackr("down")  # removes the kept one-off container too
    client = project.engine.client()
    try:
        assert client.containers(all=True) == []
    finally:
        client.close()


def test_tty_and_stdin_open_keep_an_interactive_service_up(project: Project) -> None:
    # The common dev-stack idiom: a shell that stays up for `exec`, as with Docker.
    project.write("""
services:
  shell:
    image: busybox:latest
    command: sh
    tty: true
    stdin_open: true
  plain:
    image: busybox:latest
    command: sh
    stdin_open: true
""")
    project.stackr("up", "-d", "--wait")
    rows = project.ps()
    assert {name: row["State"] for name, row in rows.items()} == {
        f"{project.name}-shell-1": "running", f"{project.name}-plain-1": "running",
    }
    result = project.stackr("exec", "-T", "shell", "sh", "-c", "readlink /proc/1/fd/0")
    assert result.stdout.strip() == "/dev/pts/0"
    project.stackr("down", "-t", "1")
    assert project.ps() == {}


def on_terminal(project: Project, *args: str, rows: int = 33, columns: int = 101
                ) -> tuple[int, str]:
    """``stackr ARGS`` with a terminal of that size as its stdin and stdout: its exit
    code and what the terminal showed."""
    import fcntl
    import pty
    import struct
    import subprocess
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "stackr", *args], cwd=project.directory,
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=slave, stdout=slave,
        stderr=subprocess.DEVNULL,
    )
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the last holder of the terminal has gone
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return process.wait(60), output.decode(errors="replace")


def test_exec_with_stdin_a_terminal_and_detached(project: Project) -> None:
    project.write("""
services:
  app:
    image: busybox:latest
    init: true
    command: sleep 3600
""")
    project.stackr("up", "-d")
    # stdin reaches the command; its exit code is stackr's
    piped = project.stackr("exec", "-T", "app", "sh", "-c", "cat; exit 5", input="from stdin\n",
                           check=False)
    assert (piped.returncode, piped.stdout) == (5, "from stdin\n")

    # on a terminal: a TTY inside, of the terminal's size
    code, shown = on_terminal(project, "exec", "app", "sh", "-c", "test -t 0 && echo tty; stty size")
    assert code == 0 and shown.split() == ["tty", "33", "101"]

    # detached: returns at once, the command runs on
    project.stackr("exec", "-d", "app", "sh", "-c", "echo done > /tmp/detached")
    for _ in range(100):
        found = project.stackr("exec", "-T", "app", "cat", "/tmp/detached", check=False)
        if found.returncode == 0:
            break
    assert found.stdout == "done\n"


def test_exec_working_directory_stays_in_the_container(project: Project) -> None:
    project.write("""
services:
  app:
    image: busybox:latest
    init: true
    command: sh -c 'echo inside > /etc/where; mkdir -p /srv/app; ln -s / /srv/up;
      ln -s /etc /srv/etc; exec sleep 3600'
""")
    project.stackr("up", "-d")
    project.stackr("exec", "-T", "app", "sh", "-c", "until [ -L /srv/etc ]; do sleep 0.05; done")
    # no shell needed: the command itself starts there
    assert project.stackr("exec", "-T", "-w", "/srv/app", "app", "pwd").stdout == "/srv/app\n"
    # a symlink is followed inside the container's root, never to the host's
    assert project.stackr("exec", "-T", "-w", "/srv/up", "app", "ls").stdout.split() == \
        project.stackr("exec", "-T", "-w", "/", "app", "ls").stdout.split()
    marker = project.stackr("exec", "-T", "-w", "/srv/etc", "app", "cat", "where").stdout
    assert marker == "inside\n"
    missing = project.stackr("exec", "-T", "-w", "/nowhere", "app", "pwd", check=False)
    assert missing.returncode != 0 and "working directory /nowhere" in missing.stderr


def test_run_is_interactive_with_a_terminal_or_a_pipe(project: Project) -> None:
    project.write("""
services:
  app:
    image: busybox:latest
    command: sleep 3600
""")
    # a pipe: stdin's end is the command's EOF, output and exit code come back
    piped = project.stackr("run", "--rm", "-T", "app", "sh", "-c", "cat; echo err >&2; exit 3",
                           input="line one\nline two\n", check=False)
    assert piped.returncode == 3
    assert (piped.stdout, piped.stderr.strip().splitlines()[-1]) == ("line one\nline two\n", "err")
    # a terminal: the container's own /dev/pts, of the terminal's size
    code, shown = on_terminal(project, "run", "--rm", "app", "sh", "-c", "tty; stty size; exit 4")
    assert code == 4 and shown.split() == ["/dev/pts/0", "33", "101"], shown
    # detached: the one-off's name, and it runs
    name = project.stackr("run", "-d", "app").stdout.strip()
    assert name.startswith(f"{project.name}-app-run-")
    client = project.engine.client()
    try:
        assert client.container_inspect(name)["State"]["Status"] == "running"
    finally:
        client.close()


def test_a_service_joins_anothers_pid_and_ipc_namespaces(project: Project) -> None:
    # a debugging sidecar's idiom: it sees the main service's processes
    project.write("""
services:
  main:
    image: busybox:latest
    command: sleep 3600
  debug:
    image: busybox:latest
    command: sleep 3601
    pid: service:main
    ipc: service:main
  tool:
    image: busybox:latest
    command: sleep 3602
    pid: host
""")
    project.stackr("up", "-d")
    seen = project.stackr("exec", "-T", "debug", "ps", "-o", "pid,args").stdout
    rows = [line.split(None, 1) for line in seen.splitlines()[1:]]
    assert ["1", "sleep 3600"] in rows and any(row[1] == "sleep 3601" for row in rows)
    namespaces = {
        name: project.stackr("exec", "-T", name, "readlink", "/proc/self/ns/ipc").stdout
        for name in ("main", "debug", "tool")
    }
    assert namespaces["main"] == namespaces["debug"] != namespaces["tool"]
    own = project.stackr("exec", "-T", "tool", "sh", "-c", "echo $$").stdout.strip()
    assert own != "1"  # the host's PID namespace


def test_container_modes_join_a_named_container(project: Project) -> None:
    # network_mode/ipc/pid: container:NAME, here the fixed name of another service's
    # container (depends_on orders them; stackr draws no edge to a container by name)
    owner = f"{project.name}-box"
    project.write(f"""
services:
  box:
    image: busybox:latest
    container_name: {owner}
    command: sleep 3600
  guest:
    image: busybox:latest
    command: sleep 3601
    network_mode: container:{owner}
    ipc: container:{owner}
    pid: container:{owner}
    depends_on: [box]
""")
    project.stackr("up", "-d")
    seen = project.stackr("exec", "-T", "guest", "ps", "-o", "pid,args").stdout
    rows = [line.split(None, 1) for line in seen.splitlines()[1:]]
    assert ["1", "sleep 3600"] in rows and any(row[1] == "sleep 3601" for row in rows)
    for kind in ("net", "ipc"):
        links = {name: project.stackr("exec", "-T", name, "readlink",
                                      f"/proc/self/ns/{kind}").stdout
                 for name in ("box", "guest")}
        assert links["box"] == links["guest"]


def test_devices_are_made_and_allowed(project: Project) -> None:
    project.write("""
services:
  app:
    image: busybox:latest
    command: sleep 3600
    devices: ["/dev/zero:/dev/extra/zero", "/dev/kmsg:/dev/kmsg:r"]
""")
    project.stackr("up", "-d")
    listed = project.stackr("exec", "-T", "app", "ls", "-l", "/dev/extra/zero", "/dev/kmsg")
    kinds = {line.split()[-1]: (line[0], line.split()[4]) for line in listed.stdout.splitlines()}
    assert kinds == {"/dev/extra/zero": ("c", "1,"), "/dev/kmsg": ("c", "1,")}
    read = project.stackr("exec", "-T", "app", "sh", "-c", "head -c 3 /dev/extra/zero | wc -c")
    assert read.stdout.strip() == "3"
    # kmsg (not one of the default devices) is allowed "r" only: opening it to read
    # works, to write is refused by the device cgroup (v1; v2 has no device cgroup yet)
    opened = project.stackr("exec", "-T", "app", "dd", "if=/dev/kmsg", "count=0", check=False)
    assert opened.returncode == 0, opened.stderr
    write = project.stackr("exec", "-T", "app", "sh", "-c", "echo stackr-test > /dev/kmsg",
                           check=False)
    assert write.returncode != 0 and "Operation not permitted" in write.stdout + write.stderr


def test_device_cgroup_rules_allow_more_devices(project: Project) -> None:
    from stackr.cgroups import CgroupSetup, detect_setup

    if detect_setup() is CgroupSetup.UNIFIED:
        pytest.skip("no devices cgroup on v2 yet")
    project.write("""
services:
  ruled:
    image: busybox:latest
    command: sleep 3600
    device_cgroup_rules: ["c 1:11 r"]
  plain:
    image: busybox:latest
    command: sleep 3600
""")
    project.stackr("up", "-d")
    # kmsg's numbers: the node can be made (CAP_MKNOD), opening it is the cgroup's say
    probe = "mknod /tmp/kmsg c 1 11 && dd if=/tmp/kmsg count=0 && echo opened"
    ruled = project.stackr("exec", "-T", "ruled", "sh", "-c", probe, check=False)
    assert "opened" in ruled.stdout, ruled.stdout + ruled.stderr
    plain = project.stackr("exec", "-T", "plain", "sh", "-c", probe, check=False)
    assert "opened" not in plain.stdout
    assert "Operation not permitted" in plain.stdout + plain.stderr


def _a_block_device() -> Path | None:
    import stat

    for name in sorted(os.listdir("/sys/block")):
        node = Path("/dev", name)
        if node.exists() and stat.S_ISBLK(node.stat().st_mode):
            return node
    return None


def test_blkio_config_limits_the_containers_block_io(project: Project) -> None:
    from stackr.cgroups import CgroupSetup, detect_setup

    device = _a_block_device()
    if device is None:
        pytest.skip("no block device on this host")
    project.write(f"""
services:
  db:
    image: busybox:latest
    command: sleep 3600
    blkio_config:
      device_read_bps: [{{path: {device}, rate: 12mb}}]
      device_write_iops: [{{path: {device}, rate: 120}}]
""")
    project.stackr("up", "-d")
    container_id = project.stackr("ps", "-q").stdout.strip()
    numbers = f"{os.major(device.stat().st_rdev)}:{os.minor(device.stat().st_rdev)}"
    if detect_setup() is CgroupSetup.UNIFIED:
        io_max = Path(f"/sys/fs/cgroup/stackr/{container_id}/io.max").read_text()
        assert f"{numbers} rbps={12 << 20}" in io_max and "wiops=120" in io_max
    else:
        blkio = Path(f"/sys/fs/cgroup/blkio/stackr/{container_id}")
        assert (blkio / "blkio.throttle.read_bps_device").read_text().split() == [
            numbers, str(12 << 20)]
        assert (blkio / "blkio.throttle.write_iops_device").read_text().split() == [
            numbers, "120"]


def test_volumes_from_shares_a_services_volumes(project: Project) -> None:
    project.write("""
services:
  data:
    image: busybox:latest
    command: sh -c "echo from-data > /shared/file && sleep 3600"
    volumes: [/shared]
  reader:
    image: busybox:latest
    command: sleep 3600
    volumes_from: ["data:ro"]
    depends_on: [data]
""")
    project.stackr("up", "-d")
    for _ in range(100):
        seen = project.stackr("exec", "-T", "reader", "cat", "/shared/file", check=False)
        if seen.returncode == 0:
            break
    assert seen.stdout == "from-data\n"
    refused = project.stackr("exec", "-T", "reader", "touch", "/shared/other", check=False)
    assert refused.returncode != 0  # ":ro"
    project.stackr("down", "-v")


def test_a_published_port_range_gives_each_replica_a_free_port(project: Project) -> None:
    project.write("""
services:
  web:
    image: busybox:latest
    command: [httpd, -f, -p, "8080", -h, /etc]
    scale: 2
    ports: ["127.0.0.1:38410-38419:8080"]
""")
    project.stackr("up", "-d")
    published = {
        int(project.stackr("port", "--index", str(index), "web", "8080").stdout.split(":")[1])
        for index in (1, 2)
    }
    assert len(published) == 2 and all(38410 <= port <= 38419 for port in published)


def test_one_host_port_is_never_given_to_two_containers(project: Project) -> None:
    # Within one file the loader refuses it; across projects the engine must.
    stack = """
services:
  web:
    image: busybox:latest
    command: [httpd, -f, -p, "8080", -h, /etc]
    ports: ["127.0.0.1:38420:8080"]
"""
    project.write(stack)
    project.stackr("up", "-d")
    other = project.directory / "other.yaml"
    other.write_text(f"name: {project.name}x\n" + stack)
    try:
        failed = project.stackr("-f", str(other), "up", "-d", check=False)
        assert failed.returncode != 0
        assert "127.0.0.1:38420/tcp" in failed.stderr
        assert "in use by container" in failed.stderr
    finally:
        project.stackr("-f", str(other), "down", check=False)


def test_a_named_service_is_all_up_needs_and_a_typo_is_an_error(project: Project) -> None:
    project.write("""
services:
  web:
    image: busybox:latest
    command: sleep 3600
  job:
    image: nosuch-image:1
""")
    # only web's image is resolved: job's (missing, unpullable here) is not asked for
    up = project.stackr("up", "-d", "web")
    assert "nosuch-image" not in up.stderr
    for verb in (["logs"], ["ps"], ["stop"], ["kill"], ["top"]):
        result = project.stackr(*verb, "wbe", check=False)
        assert result.returncode == 2, (verb, result.stderr)
        assert "no such service: wbe" in result.stderr


def test_cpuset_and_cpu_quota_reach_the_cgroup(project: Project) -> None:
    project.write("""
services:
  pinned:
    image: busybox:latest
    init: true
    command: sleep 3600
    cpuset: "0"
    cpu_quota: 50000
    cpu_period: 100000
""")
    project.stackr("up", "-d")
    status = project.stackr("exec", "-T", "pinned", "cat", "/proc/self/status").stdout
    assert "Cpus_allowed_list:\t0\n" in status
    [row] = project.ps().values()
    client = project.engine.client()
    try:
        container_id = client.container_inspect(row["ID"])["Id"]
    finally:
        client.close()
    quota = Path(f"/sys/fs/cgroup/cpu/stackr/{container_id}/cpu.cfs_quota_us")
    period = Path(f"/sys/fs/cgroup/cpu/stackr/{container_id}/cpu.cfs_period_us")
    if quota.exists():  # cgroup v1 (these machines); v2 is cpu.max
        assert int(quota.read_text()) * 2 == int(period.read_text())
    else:
        limit, length = Path(f"/sys/fs/cgroup/stackr/{container_id}/cpu.max").read_text().split()
        assert int(limit) * 2 == int(length)
