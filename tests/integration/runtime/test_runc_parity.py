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
