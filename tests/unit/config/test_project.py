"""Files, project directory, project name and environment, as Compose chooses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.config.project import normalize_project_name
from tests.unit.config.loader_helpers import errors_of, load, write_files

SIMPLE = "services:\n  web:\n    image: busybox\n"


def test_default_file_is_found_in_a_parent_directory(tmp_path: Path) -> None:
    write_files(tmp_path, {"proj/compose.yaml": SIMPLE, "proj/sub/deeper/.keep": ""})
    raw = load(tmp_path, {}, cwd=tmp_path / "proj" / "sub" / "deeper")
    assert raw.files == (tmp_path / "proj" / "compose.yaml",)
    assert raw.project_dir == tmp_path / "proj"
    assert raw.project_name == "proj"


def test_compose_yaml_wins_over_other_default_names_with_a_warning(tmp_path: Path) -> None:
    raw = load(tmp_path / "p", {"docker-compose.yml": SIMPLE, "compose.yaml": SIMPLE})
    assert raw.files == (tmp_path / "p" / "compose.yaml",)
    assert [w.render() for w in raw.warnings] == [
        "found several stack files (compose.yaml, docker-compose.yml); using compose.yaml"
    ]


def test_stack_yml_is_a_default_name(tmp_path: Path) -> None:
    raw = load(tmp_path / "p", {"stack.yml": SIMPLE})
    assert raw.files == (tmp_path / "p" / "stack.yml",)


def test_override_file_beside_the_default_file_is_merged(tmp_path: Path) -> None:
    raw = load(
        tmp_path / "p",
        {
            "docker-compose.yml": SIMPLE,
            "docker-compose.override.yml": "services:\n  web:\n    image: other\n",
        },
    )
    assert raw.files == (
        tmp_path / "p" / "docker-compose.yml",
        tmp_path / "p" / "docker-compose.override.yml",
    )
    assert raw.data["services"]["web"]["image"] == "other"


def test_explicit_files_skip_the_override_file(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"compose.yaml": SIMPLE, "compose.override.yaml": "services:\n  web:\n    image: x\n"},
        files=("compose.yaml",),
    )
    assert raw.data["services"]["web"]["image"] == "busybox"


def test_no_stack_file_found_is_a_clear_error(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"other.yml": SIMPLE}, cwd=tmp_path)
    assert len(errors) == 1
    assert errors[0].startswith(f"no stack file found in {tmp_path} or its parents (looked for ")
    assert errors[0].endswith("(use -f FILE)")


def test_missing_explicit_files_are_all_named(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"a.yml": SIMPLE}, files=("a.yml", "b.yml", "sub/c.yml"))
    assert errors == ["stack file b.yml not found", "stack file sub/c.yml not found"]


def test_a_directory_given_as_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "dir.yml").mkdir()
    assert errors_of(tmp_path, {}, files=("dir.yml",)) == ["stack file dir.yml is a directory"]


def test_compose_file_variable_lists_the_files(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"a.yml": SIMPLE, "b.yml": "services:\n  web:\n    image: b\n"},
        environ={"COMPOSE_FILE": "a.yml:b.yml"},
    )
    assert raw.files == (tmp_path / "a.yml", tmp_path / "b.yml")
    assert raw.data["services"]["web"]["image"] == "b"


def test_project_directory_option_moves_dotenv_and_name(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"files/stack.yml": "services:\n  web:\n    image: ${IMG}\n", "Work Dir/.env": "IMG=x\n"},
        files=("files/stack.yml",),
        project_directory=Path("Work Dir"),
    )
    assert raw.project_dir == tmp_path / "Work Dir"
    assert raw.project_name == "workdir"
    assert raw.data["services"]["web"]["image"] == "x"


@pytest.mark.parametrize(
    ("directory", "expected"),
    [("My App.v2", "myappv2"), ("_under", "under"), ("--x", "x"), ("abc-1_2", "abc-1_2")],
)
def test_directory_names_are_normalised_like_compose(directory: str, expected: str) -> None:
    assert normalize_project_name(directory) == expected


def test_project_name_precedence(tmp_path: Path) -> None:
    files = {"proj/stack.yml": "name: from-file\n" + SIMPLE}
    root = tmp_path / "x"
    assert load(root, files, files=("proj/stack.yml",)).project_name == "from-file"
    env = {"COMPOSE_PROJECT_NAME": "from-env"}
    assert load(root, files, files=("proj/stack.yml",), environ=env).project_name == "from-env"
    raw = load(root, files, files=("proj/stack.yml",), environ=env, project_name="from-flag")
    assert raw.project_name == "from-flag"


def test_invalid_project_name_flag_is_an_error(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": SIMPLE}, project_name="My_App")
    assert errors == [
        "-p: invalid project name 'My_App': it must contain only lowercase letters, digits, "
        "'-' and '_', and start with a letter or a digit"
    ]


def test_invalid_name_key_is_an_error_at_its_position(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "name: -bad\n" + SIMPLE})
    assert errors == [
        "stack.yml:1:7: name: invalid project name '-bad': it must contain only lowercase "
        "letters, digits, '-' and '_', and start with a letter or a digit"
    ]


def test_name_key_is_interpolated(tmp_path: Path) -> None:
    raw = load(tmp_path, {"stack.yml": "name: app-${ENV:-dev}\n" + SIMPLE}, environ={"ENV": "prod"})
    assert raw.project_name == "app-prod"
    assert raw.data["name"] == "app-prod"


def test_project_name_is_available_to_interpolation(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    image: ${COMPOSE_PROJECT_NAME}-web\n"},
        project_name="demo",
    )
    assert raw.data["services"]["web"]["image"] == "demo-web"


def test_dotenv_feeds_interpolation_and_the_process_environment_wins(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": "services:\n  web:\n    image: ${IMG}:${TAG}\n",
            ".env": "IMG=busybox\nTAG=from-dotenv\n",
        },
        environ={"TAG": "from-shell"},
    )
    assert raw.data["services"]["web"]["image"] == "busybox:from-shell"
    assert raw.environment["IMG"] == "busybox"


def test_env_file_option_replaces_dotenv_later_files_winning(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": "services:\n  web:\n    image: ${A}-${B}\n",
            ".env": "A=dotenv\nB=dotenv\n",
            "one.env": "A=one\nB=one\n",
            "two.env": "B=two\n",
        },
        env_files=(Path("one.env"), Path("two.env")),
    )
    assert raw.data["services"]["web"]["image"] == "one-two"


def test_missing_env_file_option_is_an_error(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": SIMPLE}, env_files=(Path("nope.env"),))
    assert errors == ["env file nope.env not found"]


def test_bad_dotenv_is_reported_with_its_line(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": SIMPLE, ".env": "A=1\nB='open\n"})
    assert errors == [".env:2:1: unterminated quoted value 'open"]


def test_dotenv_sets_project_name_and_profiles(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": SIMPLE, ".env": "COMPOSE_PROJECT_NAME=dotenv-name\nCOMPOSE_PROFILES=a, b\n"},
    )
    assert raw.project_name == "dotenv-name"
    assert raw.profiles == ("a", "b")


def test_profile_option_wins_over_compose_profiles(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": SIMPLE},
        environ={"COMPOSE_PROFILES": "x"},
        profiles=("debug", "debug", "ops"),
    )
    assert raw.profiles == ("debug", "ops")


def test_compose_file_can_come_from_dotenv(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"main.yml": SIMPLE, "extra.yml": "services:\n  web:\n    tty: true\n",
         ".env": "COMPOSE_FILE=main.yml:extra.yml\n"},
    )  # fmt: skip
    assert raw.files == (tmp_path / "main.yml", tmp_path / "extra.yml")
    assert raw.data["services"]["web"] == {"image": "busybox", "tty": True}
