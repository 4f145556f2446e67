"""``stackr runtime``: the runc-compatible command on a bundle like ``runc spec`` writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.busybox import make_busybox_rootfs

pytestmark = pytest.mark.timeout(60)

RUNC_SPEC_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def runc_style_config(args: list[str]) -> dict[str, object]:
    """What ``runc spec`` writes (abridged), with ``args`` as the process."""
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {key: RUNC_SPEC_CAPS for key in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
        },
    }  # fmt: skip


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    make_busybox_rootfs(tmp_path / "bundle" / "rootfs")
    return tmp_path / "bundle"


def runtime(root: Path, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "stackr.runtime.ocicli", "--root", str(root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, **options)  # type: ignore[call-overload]


def test_run_follows_the_config_and_exits_with_its_status(bundle: Path, tmp_path: Path) -> None:
    script = ("hostname; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; ulimit -n; "
              "touch /x 2>/dev/null || echo read-only; wc -c < /proc/timer_list; exit 3")  # fmt: skip
    (bundle / "config.json").write_text(json.dumps(runc_style_config(["sh", "-c", script])))
    result = runtime(tmp_path / "state", "run", "--bundle", str(bundle), "oci-run")
    assert result.returncode == 3, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "runc"
    assert lines[1] == "CapEff:\t0000000020000420"  # the three capabilities of runc spec
    assert lines[2] == "NoNewPrivs:\t1"
    assert lines[3:6] == ["1024", "read-only", "0"]
    assert not (tmp_path / "state" / "oci-run").exists()


def test_create_start_state_kill_delete(bundle: Path, tmp_path: Path) -> None:
    (bundle / "config.json").write_text(json.dumps(runc_style_config(["sleep", "100"])))
    root = tmp_path / "state"
    pid_file = tmp_path / "pid"
    # The container keeps create's stdio (runc's pass-through): give it files, not pipes
    # that a caller would wait on until the container exits.
    with open(tmp_path / "out", "w") as output:
        command = [sys.executable, "-m", "stackr.runtime.ocicli", "--root", str(root), "create",
                   "--bundle", str(bundle), "--pid-file", str(pid_file), "c1"]  # fmt: skip
        created = subprocess.run(command, stdout=output, stderr=output, timeout=30)
    assert created.returncode == 0, (tmp_path / "out").read_text()
    state = json.loads(runtime(root, "state", "c1").stdout)
    assert state["status"] == "created"
    assert state["pid"] == int(pid_file.read_text())
    assert state["bundle"] == str(bundle)
    duplicate = runtime(root, "create", "--bundle", str(bundle), "c1")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    assert runtime(root, "start", "c1").returncode == 0
    assert json.loads(runtime(root, "state", "c1").stdout)["status"] == "running"
    refused = runtime(root, "delete", "c1")
    assert refused.returncode == 1 and "running" in refused.stderr
    assert runtime(root, "kill", "c1", "KILL").returncode == 0
    # "state notices when the process has exited": poll, as OCI tooling does.
    for _ in range(500):
        if json.loads(runtime(root, "state", "c1").stdout)["status"] == "stopped":
            break
    assert json.loads(runtime(root, "state", "c1").stdout)["status"] == "stopped"
    assert runtime(root, "delete", "c1").returncode == 0
    unknown = runtime(root, "state", "c1")
    assert unknown.returncode == 1 and "no such container" in unknown.stderr
    assert not os.path.exists(root / "c1")


def test_console_socket_for_a_terminal_config(bundle: Path, tmp_path: Path) -> None:
    config = runc_style_config(["sh", "-c", "tty; exit 5"])
    config["process"]["terminal"] = True  # type: ignore[index]
    (bundle / "config.json").write_text(json.dumps(config))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "console.sock"))
    listener.listen(1)
    root = tmp_path / "state"
    created = runtime(root, "create", "--bundle", str(bundle),
                      "--console-socket", str(tmp_path / "console.sock"), "tty1")  # fmt: skip
    assert created.returncode == 0, created.stderr
    connection, _ = listener.accept()
    _, fds, _, _ = socket.recv_fds(connection, 1, 1)
    connection.close()
    listener.close()
    assert runtime(root, "start", "tty1").returncode == 0
    assert os.read(fds[0], 100) == b"/dev/pts/0\r\n"
    os.close(fds[0])
    for _ in range(500):
        if json.loads(runtime(root, "state", "tty1").stdout)["status"] == "stopped":
            break
    assert runtime(root, "delete", "tty1").returncode == 0
