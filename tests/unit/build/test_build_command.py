from __future__ import annotations

from pathlib import Path

import pytest

from stackr.cli import main
from stackr.commands.build import _parse_build_args
from stackr.errors import UsageError


def test_build_args_from_the_command_line() -> None:
    assert _parse_build_args(["A=1", "B", "C"], {"B": "env"}) == {"A": "1", "B": "env"}
    with pytest.raises(UsageError):
        _parse_build_args(["=x"], {})


def test_service_checks_come_before_any_build(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "compose.yaml"
    stack.write_text("services:\n  db:\n    image: busybox\n")
    assert main(["-f", str(stack), "build"]) == 0  # nothing to build
    assert main(["-f", str(stack), "build", "db"]) == 2
    assert "service db has no build: section" in capsys.readouterr().err
    assert main(["-f", str(stack), "build", "ghost"]) == 2
