"""stackr's models are built without pydantic's plugin discovery (see pydantic_plugins)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pydantic.plugin

REPO = Path(__file__).resolve().parents[3]


def test_pydantic_asks_its_loader_for_get_plugins_only() -> None:
    # What the stand-in provides must be all pydantic takes from the loader.
    package = Path(pydantic.plugin.__file__).parent
    taken = set()
    for source in Path(package).parent.rglob("*.py"):
        for names in re.findall(r"from \S*_loader import ([\w, ]+)", source.read_text()):
            taken.update(name.strip() for name in names.split(","))
    assert taken == {"get_plugins"}


def test_a_stack_loads_without_importing_importlib_metadata() -> None:
    script = (
        "import sys\n"
        "from stackr.config.models_top import Stack\n"
        "stack = Stack.model_validate({'name': 'p', 'services': {'web': {'image': 'busybox'}}})\n"
        "assert stack.services['web'].image == 'busybox'\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, check=True)
    assert result.stdout.strip() == "False"
