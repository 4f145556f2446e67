"""Dotenv syntax (Compose's) and ``env_file`` merged under ``environment``."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.config.envfile import DotenvError, parse_dotenv
from stackr.errors import Location
from tests.unit.config.loader_helpers import errors_of, load


def parse(text: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    return parse_dotenv(text, (environ or {}).get)


def test_plain_values_comments_and_export() -> None:
    text = (
        "# a comment\n"
        "A=1\n"
        "export B=two words   \n"
        "  C = spaced\n"
        "D=value # inline comment\n"
        "E=no#comment\n"
        "F=\n"
        "G: yaml style\n"
    )
    assert parse(text) == {
        "A": "1",
        "B": "two words",
        "C": "spaced",
        "D": "value",
        "E": "no#comment",
        "F": "",
        "G": "yaml style",
    }


def test_single_quotes_are_literal() -> None:
    assert parse("A='$HOME \\n # not a comment'\n", {"HOME": "/root"}) == {
        "A": "$HOME \\n # not a comment"
    }


def test_double_quotes_expand_escapes_and_variables() -> None:
    text = 'A="line1\\nline2\\t\\"q\\" \\$HOME ${HOME}" # comment\n'
    assert parse(text, {"HOME": "/root"}) == {"A": 'line1\nline2\t"q" $HOME /root'}


def test_double_quoted_values_span_lines() -> None:
    text = 'KEY="-----BEGIN-----\nabc\n-----END-----"\nNEXT=1\n'
    assert parse(text) == {"KEY": "-----BEGIN-----\nabc\n-----END-----", "NEXT": "1"}


def test_interpolation_uses_the_environment_first_then_earlier_entries() -> None:
    text = "A=from-file\nB=${A}-x\nC=${HOME:-none}\nD=${MISSING:-dflt}\n"
    assert parse(text, {"A": "from-env", "HOME": "/root"}) == {
        "A": "from-file",
        "B": "from-env-x",
        "C": "/root",
        "D": "dflt",
    }
    assert parse("A=1\nB=$A$A\n")["B"] == "11"


def test_bare_key_is_taken_from_the_environment_when_set() -> None:
    assert parse("HOME\nNOT_SET\nA=1\n", {"HOME": "/root"}) == {"HOME": "/root", "A": "1"}


def test_crlf_line_endings() -> None:
    assert parse("A=1\r\nB='x'\r\n") == {"A": "1", "B": "x"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('A=1\nB="open\nC=3\n', 2, 'unterminated quoted value "open'),
        ("A=1\nB C=2\n", 2, "variable name 'B C' contains a space"),
        ("A=1\nB$=2\n", 2, "unexpected character '$' in variable name 'B$=2'"),
        ("A=${B\n", 1, "invalid interpolation format in '${B'"),
        ("A=${B:?needed}\n", 1, "required variable B is missing a value: needed"),
    ],
)
def test_bad_dotenv_lines_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DotenvError) as caught:
        parse(text)
    assert (caught.value.line, caught.value.message) == (line, message)


def test_env_file_is_normalised_and_merged_under_environment(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": """
            services:
              web:
                image: busybox
                env_file:
                  - common.env
                  - path: web.env
                environment:
                  SHARED: from-environment
            """,
            "common.env": "SHARED=common\nONLY_COMMON=1\nBOTH=common\n",
            "web.env": "BOTH=web\n",
        },
    )
    web = raw.data["services"]["web"]
    assert web["env_file"] == [
        {"path": str(tmp_path / "common.env"), "required": True},
        {"path": str(tmp_path / "web.env"), "required": True},
    ]
    assert web["environment"] == {
        "SHARED": "from-environment",
        "ONLY_COMMON": "1",
        "BOTH": "web",
    }
    # A variable from a file is reported at the env_file entry that brought it.
    assert raw.source_map.value(("services", "web", "environment", "BOTH")) == Location(
        "stack.yml", 7, 9
    )
    assert raw.source_map.value(("services", "web", "environment", "SHARED")) == Location(
        "stack.yml", 9, 15
    )


def test_env_file_as_a_single_string(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    env_file: a.env\n", "a.env": "X=1\n"},
    )
    assert raw.data["services"]["web"]["env_file"] == [
        {"path": str(tmp_path / "a.env"), "required": True}
    ]
    assert raw.data["services"]["web"]["environment"] == {"X": "1"}


def test_missing_required_env_file_is_reported_at_its_entry(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    image: busybox\n    env_file:\n      - nope.env\n"},
    )
    assert errors == ["stack.yml:5:9: services.web.env_file[0]: env file nope.env not found"]


def test_optional_missing_env_file_is_skipped(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": """
            services:
              web:
                env_file:
                  - path: nope.env
                    required: false
            """
        },
    )
    assert raw.data["services"]["web"]["env_file"] == [
        {"path": str(tmp_path / "nope.env"), "required": False}
    ]
    assert raw.data["services"]["web"]["environment"] == {}


def test_env_file_syntax_error_points_into_the_env_file(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    env_file: bad.env\n", "bad.env": "A=1\nB='x\n"},
    )
    assert errors == ["bad.env:2:1: services.web.env_file: unterminated quoted value 'x"]


def test_env_file_interpolates_from_project_environment(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    env_file: a.env\n", "a.env": "URL=http://${HOST}/\n"},
        environ={"HOST": "db"},
    )
    assert raw.data["services"]["web"]["environment"] == {"URL": "http://db/"}


def test_environment_list_is_normalised_to_a_mapping(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": """
            services:
              web:
                environment:
                  - A=1
                  - B=x=y
                  - FROM_SHELL
                  - NOWHERE
            """
        },
        environ={"FROM_SHELL": "shell"},
    )
    assert raw.data["services"]["web"]["environment"] == {
        "A": "1",
        "B": "x=y",
        "FROM_SHELL": "shell",
        "NOWHERE": None,
    }
    assert raw.source_map.value(("services", "web", "environment", "B")) == Location(
        "stack.yml", 6, 9
    )


def test_env_file_format_raw_reads_values_literally(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": "services:\n  web:\n    env_file:\n"
            "      - path: r.env\n        format: raw\n",
            "r.env": "A='quoted' # kept\nB=${X}\n",
        },
    )
    assert raw.data["services"]["web"]["environment"] == {"A": "'quoted' # kept", "B": "${X}"}


def test_env_file_entry_problems_are_reported(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        {
            "stack.yml": """
            services:
              web:
                env_file:
                  - path: a.env
                    required: maybe
                  - required: true
                  - path: b.env
                    format: json
            """,
            "a.env": "",
        },
    )
    assert errors == [
        "stack.yml:6:19: services.web.env_file[0].required: required must be true or false, "
        "not 'maybe'",
        "stack.yml:7:9: services.web.env_file[1]: env_file entry needs a path (a string)",
        "stack.yml:9:17: services.web.env_file[2].format: unknown env_file format 'json' "
        "(known: raw)",
    ]


def test_wrongly_shaped_environment_is_left_for_validation(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    environment: A=1\n    env_file: {path: 3}\n"},
    )
    assert raw.data["services"]["web"] == {"environment": "A=1", "env_file": {"path": 3}}
