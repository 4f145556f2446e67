"""``stackr config`` and ``stackr graph`` end to end through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from stackr import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def webapp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "webapp"
    shutil.copytree(EXAMPLES / "webapp", project)
    monkeypatch.chdir(project)
    return project


def test_config_prints_the_normalised_stack(
    webapp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["config"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert document["name"] == "webapp"
    web = document["services"]["web"]
    assert web["ports"][0]["published"] == 8080
    assert web["depends_on"]["api"]["condition"] == "service_started"
    assert document["services"]["db"]["healthcheck"]["interval"] == "2s"


def test_config_json_and_listings(webapp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "--format", "json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["services"]) == {"web", "api", "db"}
    assert cli.main(["config", "--services"]) == 0
    assert capsys.readouterr().out.split() == ["api", "db", "web"]
    assert cli.main(["config", "--volumes"]) == 0
    assert capsys.readouterr().out.split() == ["dbdata"]


def test_profile_option_after_the_verb_selects_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app: {image: x}\n  debug: {image: x, profiles: [debug]}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["config", "--services"]) == 0
    assert capsys.readouterr().out.split() == ["app"]
    assert cli.main(["config", "--profile", "debug", "--services"]) == 0
    assert capsys.readouterr().out.split() == ["app", "debug"]
    assert cli.main(["--profile", "debug", "config", "--services"]) == 0
    assert capsys.readouterr().out.split() == ["app", "debug"]
    assert cli.main(["config", "--profiles"]) == 0
    assert capsys.readouterr().out.split() == ["debug"]


def test_a_broken_file_exits_3_with_every_problem_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  web:\n"
        "    image: nginx\n"
        "    ports: ['80:80:80']\n"
        "    enviroment: {A: 1}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["config", "-q"]) == 3
    err = capsys.readouterr().err
    assert err.splitlines() == [
        'compose.yaml:4:13: services.web.ports[0]: "80:80:80" is not a port mapping '
        "([HOST_IP:][HOST:]CONTAINER[/PROTOCOL])",
        'compose.yaml:5:5: services.web: unknown key "enviroment" (did you mean "environment"?)',
        "error: the stack file is invalid (2 problems)",
    ]


def test_graph_formats(webapp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["graph"]) == 0
    text = capsys.readouterr().out
    assert "service:api:1" in text and "<- service:db:1  [depends_on (service_healthy)]" in text
    assert cli.main(["graph", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph stack {")
    assert '"service:db:1" -> "service:api:1" [label="depends_on (service_healthy)"];' in dot
    assert cli.main(["graph", "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("graph LR")


def test_no_stack_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert cli.main(["config"]) == 3
    err = capsys.readouterr().err
    assert "compose.yaml" in err and "Traceback" not in err


def test_config_does_not_import_the_graph_library(webapp: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from stackr import cli\n"
        "assert cli.main(['config', '-q']) == 0\n"
        "print('networkx' in sys.modules, 'pyroute2' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=webapp
    )
    assert result.stdout.split() == ["False", "False"]


def test_config_leaves_out_empty_top_level_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  app: {image: x, x-note: kept}\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["config"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert list(document) == ["name", "services", "networks"]
    assert document["services"]["app"]["x-note"] == "kept"
