"""The same bundle gives the same observable results under ``stackr runtime`` and runc."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.busybox import make_busybox_rootfs
from tests.integration.runtime.test_oci_cli import runc_style_config

pytestmark = pytest.mark.timeout(60)

OBSERVE = (
    "hostname; id; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "
    "/proc/self/status; ulimit -n; echo pid $$; "
    "touch /x 2>/dev/null && echo root-rw || echo root-ro; "
    "echo 1 > /proc/sys/kernel/hostname 2>/dev/null && echo procsys-rw || echo procsys-ro; "
    "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; ls /dev; "
    # (runc also mounts the name=systemd hierarchy, where stackr makes no cgroup)
    "cut -d' ' -f2 /proc/mounts | grep -v /sys/fs/cgroup/systemd | sort; exit 7"
)


def run_bundle(command: list[str], bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=bundle, capture_output=True, text=True, timeout=30, check=False
    )


def test_stackr_and_runc_see_the_same_container(tmp_path: Path) -> None:
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("needs runc (Debian package runc) to compare with")
    bundle = tmp_path / "bundle"
    make_busybox_rootfs(bundle / "rootfs")
    (bundle / "config.json").write_text(json.dumps(runc_style_config(["sh", "-c", OBSERVE])))
    ours = run_bundle(
        [
            sys.executable,
            "-m",
            "stackr.runtime.ocicli",
            "--root",
            str(tmp_path / "stackr"),
            "run",
            "--bundle",
            str(bundle),
            "parity-stackr",
        ],
        bundle,
    )
    theirs = run_bundle(
        [runc, "--root", str(tmp_path / "runc"), "run", "--bundle", str(bundle), "parity-runc"],
        bundle,
    )
    assert theirs.returncode == 7, theirs.stderr
    assert ours.returncode == 7, ours.stderr
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()


# HOSTNAME is left out: stackr's runtime adds it to the environment, as Docker does
# for its containers; runc adds nothing to the bundle's env (a known difference).
PROCESS_OBSERVE = (
    "id; pwd; umask; env | grep -v -E '^(HOSTNAME|PWD|SHLVL)=' | sort; "
    "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; "
    "ulimit -n; ulimit -u; touch /x 2>/dev/null && echo root-rw || echo root-ro; exit 5"
)


def test_the_same_process_settings_under_both(tmp_path: Path) -> None:
    """user, supplementary groups, umask, working dir (made if missing), env, rlimits,
    capabilities and no_new_privs as the bundle's ``process`` sets them."""
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("needs runc (Debian package runc) to compare with")
    bundle = tmp_path / "bundle"
    make_busybox_rootfs(bundle / "rootfs")
    config = runc_style_config(["sh", "-c", PROCESS_OBSERVE])
    process = config["process"]
    assert isinstance(process, dict)
    process.update(
        user={"uid": 1000, "gid": 1000, "additionalGids": [29, 50], "umask": 0o027},
        cwd="/home/app/work",
        env=[*process["env"], "GREETING=hello world", "EMPTY="],
        rlimits=[
            {"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 512},
            {"type": "RLIMIT_NPROC", "hard": 300, "soft": 200},
        ],
        noNewPrivileges=False,
    )
    root = config["root"]
    assert isinstance(root, dict)
    root["readonly"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    ours = run_bundle(
        [sys.executable, "-m", "stackr.runtime.ocicli", "--root", str(tmp_path / "stackr"),
         "run", "--bundle", str(bundle), "process-stackr"],
        bundle,
    )  # fmt: skip
    theirs = run_bundle(
        [runc, "--root", str(tmp_path / "runc"), "run", "--bundle", str(bundle), "process-runc"],
        bundle,
    )
    assert theirs.returncode == 5, theirs.stderr
    assert ours.returncode == 5, ours.stderr
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert "GREETING=hello world" in ours.stdout.splitlines()
