"""The CLI's contract: verbs listed, exit codes per DESIGN.md §6, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackr import __version__, cli
from stackr.errors import EXIT_INTERNAL, EXIT_USAGE, HostError


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"stackr {__version__}"


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for verb in cli.VERBS:
        assert verb.name in out


def test_no_verb_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_unimplemented_verb_says_so_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_command_module", lambda verb: None)
    assert cli.main(["up", "-d", "--build"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "stackr up is not implemented yet" in err
    assert "Traceback" not in err


def test_unknown_flag_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["config", "--no-such-flag"])
    assert exit_info.value.code == EXIT_USAGE


def test_host_error_is_rendered_with_cause_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_run(args: object) -> int:
        raise HostError("create bridge", "stkb0123456789", 17)

    monkeypatch.setattr(cli, "_run", failing_run)
    assert cli.main(["config"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: create bridge stkb0123456789: File exists (EEXIST)"


def test_a_bug_is_an_internal_error_with_a_crash_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def buggy_run(args: object) -> int:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(cli, "_run", buggy_run)
    assert cli.main(["config"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: oops" in err
    assert "Traceback" not in err
    log_path = err.rsplit("details are in ", 1)[1].strip()
    assert "ZeroDivisionError" in Path(log_path).read_text()


def test_project_options_work_after_the_verb(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def capture(args: object) -> int:
        seen["files"] = args.files  # type: ignore[attr-defined]
        seen["project"] = args.project_name  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(cli, "_run", capture)
    assert cli.main(["config", "-f", "a.yml", "-f", "b.yml", "-p", "demo"]) == 0
    assert seen == {"files": ["a.yml", "b.yml"], "project": "demo"}


def test_version_starts_without_heavy_imports() -> None:
    code = (
        "import sys; from stackr import cli; cli.main(['--version']); "
        "heavy = {'yaml', 'pydantic', 'networkx', 'pyroute2', 'watchdog'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().endswith("[]")


def test_help_starts_without_heavy_imports() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from stackr import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: cli.main(['--help'])\n"
        "    except SystemExit: pass\n"
        "heavy = {'yaml', 'pydantic', 'networkx', 'pyroute2', 'watchdog'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_after_logs_rm_rmi_dash_f_is_follow_or_force(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def capture(args: object) -> int:
        seen.update(vars(args))
        return 0

    monkeypatch.setattr(cli, "_run", capture)
    assert cli.main(["-f", "stack.yml", "logs", "-f", "web"]) == 0
    assert seen["follow"] is True and seen["files"] == ["stack.yml"]
    assert seen["services"] == ["web"]
    assert cli.main(["logs", "--file", "other.yml", "-f"]) == 0
    assert seen["follow"] is True and seen["files"] == ["other.yml"]
    assert cli.main(["rm", "-f", "web"]) == 0
    assert seen["force"] is True
    assert cli.main(["up", "-f", "stack.yml", "-d"]) == 0
    assert seen["files"] == ["stack.yml"]


def test_only_the_verbs_named_are_configured() -> None:
    # `stackr ps` imports ps's command module, not the 30 others (and --help lists all).
    code = (
        "import sys\n"
        "from stackr import cli\n"
        "parser = cli.build_parser({'ps'})\n"
        "args = parser.parse_args(['ps', '-a'])\n"
        "print(args.all, sorted(m for m in sys.modules if m.startswith('stackr.commands.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True ['stackr.commands.ps']"
    assert "watch" in cli.build_parser(set()).format_help()
