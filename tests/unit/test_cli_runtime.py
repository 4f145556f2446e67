"""``stackr runtime``'s fast path in the CLI: no verb table, the same results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackr import cli
from stackr.runtime import ocicli

HEAVY = ("argparse", "yaml", "pydantic", "networkx", "pyroute2", "jsonschema", "watchdog")


def test_the_fast_path_builds_no_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parser() -> None:
        raise AssertionError("the verb table was built")

    monkeypatch.setattr(cli, "build_parser", no_parser)
    assert cli.main(["runtime", "--root", str(tmp_path / "oci"), "list"]) == 0
    assert capsys.readouterr().out.split() == ["ID", "PID", "STATUS", "BUNDLE"]


def test_errors_are_the_full_parsers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["runtime", "--root", str(tmp_path / "oci"), "state", "nope"]
    fast_code = cli.main(argv)
    fast_err = capsys.readouterr().err
    monkeypatch.setattr(ocicli, "parse_fast", lambda arguments: None)
    assert cli.main(argv) == fast_code == 2  # a usage error, as for any verb
    assert capsys.readouterr().err == fast_err
    assert "container nope: no such container" in fast_err


def test_help_and_project_options_go_to_the_full_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["runtime", "--help"])
    assert exit_info.value.code == 0
    assert "create" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["runtime", "--debug", "state"])  # the full parser: container_id missing
    assert exit_info.value.code == 2


def test_nothing_heavy_is_imported(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from stackr import cli\n"
        f"code = cli.main(['runtime', '--root', {str(tmp_path / 'oci')!r}, 'list'])\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in "
        f"{HEAVY!r} or name.startswith(('stackr.config', 'stackr.commands', "
        "'stackr.engine', 'stackr.network', 'stackr.images')))\n"
        "print(code, loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[-1] == "0 []"


def test_the_console_script_leaves_with_the_status(tmp_path: Path) -> None:
    # As pip's script: main() with no argv is the process's entry and leaves by itself.
    script = "import sys\nfrom stackr.cli import main\nsys.exit(main())\n"
    command = [sys.executable, "-c", script, "runtime", "--root", str(tmp_path / "oci")]
    listed = subprocess.run([*command, "list"], capture_output=True, text=True, check=False)
    assert (listed.returncode, listed.stdout.split()) == (0, ["ID", "PID", "STATUS", "BUNDLE"])
    missing = subprocess.run([*command, "state", "x"], capture_output=True, text=True, check=False)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: container x: no such container"
