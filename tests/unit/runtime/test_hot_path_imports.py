"""The runtime's modules keep their start-up cost: no typing, dataclasses or shutil at run time.

``stackr runtime run`` is compared with runc as a whole process (issue #3): every module
it loads counts. ``typing`` (~16 M instructions), ``dataclasses`` (with inspect, ast, dis,
tokenize: ~47 M) and ``shutil`` (bz2, lzma: ~8 M) are read only by mypy here (``if
TYPE_CHECKING:``) or inside the function that needs them. A static check: the modules'
top-level statements, outside ``if TYPE_CHECKING`` blocks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stackr

PACKAGE = Path(stackr.__file__).parent
HOT_PATH = sorted(
    [*(PACKAGE / "runtime").glob("*.py"), *(PACKAGE / "cgroups").glob("*.py")],
    key=str,
)
# forkserver is the engine's (another area); its start-up is trimmed there.
NOT_CHECKED = {"forkserver.py"}
HEAVY = {"typing", "dataclasses", "shutil", "inspect", "subprocess", "socket", "argparse"}


def _top_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.If):
                test = statement.test
                if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                    visit(statement.orelse)  # the run-time branch
                    continue
                visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
            elif isinstance(statement, ast.Import):
                found.extend((statement.lineno, alias.name) for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and statement.module:
                found.append((statement.lineno, statement.module))

    visit(tree.body)
    return found


@pytest.mark.parametrize(
    "path", [p for p in HOT_PATH if p.name not in NOT_CHECKED], ids=lambda p: p.name
)
def test_no_heavy_module_at_import_time(path: Path) -> None:
    imports = _top_level_imports(ast.parse(path.read_text()))
    heavy = [(line, name) for line, name in imports if name.split(".")[0] in HEAVY]
    assert heavy == [], f"{path.name} imports at run time: {heavy}"


def test_security_leaves_ctypes_to_the_container_init() -> None:
    imports = _top_level_imports(ast.parse((PACKAGE / "runtime" / "security.py").read_text()))
    assert [name for _, name in imports if name in ("stackr", "stackr.syscalls", "ctypes")] == []
