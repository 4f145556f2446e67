"""``stackr runtime run`` loads only what runs a container (its start-up is its cost).

The process that runs ``stackr runtime run`` must not import the CLI's verb table,
argparse, the stack-file model or the network code; nor the container's init code,
which its preforked child loads (``stackr.runtime.prefork``). ``-X importtime`` lists
the caller's imports on stderr (the child's stderr is /dev/null by then).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.busybox import make_busybox_rootfs
from tests.integration.runtime.test_oci_cli import runc_style_config

pytestmark = pytest.mark.timeout(60)

NOT_IN_THE_CALLER = (
    "argparse", "subprocess", "threading", "socket", "yaml", "pydantic", "networkx",
    "pyroute2", "stackr.config", "stackr.commands", "stackr.engine", "stackr.network",
    "stackr.images", "stackr.runtime.init", "stackr.runtime.forkserver",
    "stackr.runtime.rootfs", "stackr.runtime.seccomp", "stackr.runtime.users",
)  # fmt: skip
CONSOLE_SCRIPT = "import re, sys\nfrom stackr.cli import main\nsys.exit(main())\n"


def imported(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("entry", ["ocicli", "console script"])
def test_runtime_run_imports_nothing_it_does_not_need(tmp_path: Path, entry: str) -> None:
    bundle = tmp_path / "bundle"
    make_busybox_rootfs(bundle / "rootfs")
    (bundle / "config.json").write_text(json.dumps(runc_style_config(["sh", "-c", "exit 6"])))
    start = (
        ["-m", "stackr.runtime.ocicli"] if entry == "ocicli" else ["-c", CONSOLE_SCRIPT, "runtime"]
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *start, "--root", str(tmp_path / "state"),
         "run", "--bundle", str(bundle), "imports"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 6, result.stderr
    modules = imported(result.stderr)
    assert "stackr.runtime.container" in modules
    heavy = sorted(
        name for name in modules
        if any(name == banned or name.startswith(f"{banned}.") for banned in NOT_IN_THE_CALLER)
    )  # fmt: skip
    assert heavy == []
