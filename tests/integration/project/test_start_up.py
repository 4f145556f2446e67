"""The project verbs, run to the end against a real engine, load nothing heavy.

``tests/unit/project/test_start_up.py`` follows each verb to its first request; this
follows them through: a settled ``up`` that starts a stopped container, ``ps``,
``logs``, and a ``down`` that stops and removes the stack with its executor and
clears the secret files' directory. None may load ``dataclasses``, ``typing``,
``concurrent.futures``, ``hashlib``, ``shutil``, ``pickle.py`` or the stack's loader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.integration.project.conftest import REPO, Project
from tests.unit.project.test_start_up import HEAVY

STACK = """
services:
  app:
    image: busybox:latest
    init: true
    command: ["sh", "-c", "echo app says hello; exec sleep 3600"]
  web:
    image: busybox:latest
    init: true
    command: ["sleep", "3600"]
    depends_on: [app]
"""


def run_reporting_modules(project: Project, *verb: str) -> tuple[set[str], str]:
    """(the modules ``stackr VERB`` loaded, its stdout), in a fresh interpreter."""
    program = (
        "import json, sys\n"
        "from stackr.cli import main\n"
        f"code = main({list(verb)!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], cwd=project.directory,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    *output, modules = result.stdout.splitlines()
    return set(json.loads(modules)), "\n".join(output)


def test_the_verbs_load_nothing_heavy_to_the_end(project: Project) -> None:
    project.write(STACK)
    first, _ = run_reporting_modules(project, "up", "-d")  # the full path: it records
    assert "stackr.config.loader" in first
    project.stackr("stop", "web")
    modules, _ = run_reporting_modules(project, "up", "-d")  # from the record
    assert project.ps()[f"{project.name}-web-1"]["State"] == "running"
    assert sorted(HEAVY & modules) == []
    modules, output = run_reporting_modules(project, "ps")
    assert f"{project.name}-app-1" in output
    assert sorted(HEAVY & modules) == []
    modules, output = run_reporting_modules(project, "logs", "app")
    assert "app says hello" in output
    assert sorted(HEAVY & modules) == []
    modules, _ = run_reporting_modules(project, "down")
    assert "stackr.project.apply" in modules and "stackr.project.secrets" in modules
    assert sorted(HEAVY & modules) == []
    assert project.ps() == {}
